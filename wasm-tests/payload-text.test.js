// How the payloads of the core's effects become strings (src/js/core.js): decoded where they
// lie in wasm memory — by the core to UTF-16 when they are not ASCII (ms_ctx_utf16), by the
// host's UTF-8 decoder when short — always exactly as TextDecoder("utf-8", { ignoreBOM: true })
// reads the bytes: ill-formed sequences as U+FFFD, a BOM kept. Through the real stdio host,
// against a server that answers with raw bytes (fixtures/raw-text-server.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { createRuntime, MCPClient } from "../src/js/index.js";
import { recordLifecycle, guardUnhandled } from "./helpers.js";

const RAW_TEXT = fileURLToPath(new URL("./fixtures/raw-text-server.js", import.meta.url));
const reference = new TextDecoder("utf-8", { ignoreBOM: true });

/** Deterministic bytes that keep a JSON string valid (no controls, '"' or '\\'), from `alphabet`. */
function bytesOf(length, alphabet, seed) {
  const out = new Uint8Array(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = alphabet[(x >>> 8) % alphabet.length];
  }
  return out;
}
const ANY = [...Array(256).keys()].filter((b) => b >= 0x20 && b !== 0x22 && b !== 0x5c);
const HIGH = ANY.filter((b) => b >= 0x80);
const utf8 = (s) => new TextEncoder().encode(s);
const concat = (...parts) => Uint8Array.from(parts.flatMap((p) => [...p]));

test("tool results: the text is what TextDecoder makes of the bytes, short or long, well-formed or not", async (t) => {
  const guard = guardUnhandled(t);
  const runtime = await createRuntime();
  t.after(() => runtime.dispose());
  const life = recordLifecycle(runtime);
  const client = new MCPClient({ mcpServers: { raw: { command: process.execPath, args: [RAW_TEXT] } } }, { runtime });
  const wellFormed = utf8("café naïve Größe 日本語のテキスト 中文字符 Ελληνικά русский 🙂🚀 한국어 ü ß ");
  const cases = {
    "short ASCII": utf8("plain"),
    "short non-ASCII": utf8("café 🙂"),
    "long ASCII": utf8("lorem ipsum ".repeat(100)),
    "long well-formed, every length of sequence": concat(...Array(40).fill(wellFormed)),
    "a BOM first, then text": concat([0xef, 0xbb, 0xbf], utf8("x".repeat(300)), [0xef, 0xbb, 0xbf]),
    "ill-formed sequences of every kind, long": concat(utf8("a".repeat(300)),
      [0xf1, 0x80, 0x80, 0xe1, 0x80, 0xc2, 0x62, 0x80, 0x63, 0x80, 0xbf, 0x64], // Unicode table 3-8
      [0xc0, 0xaf, 0xe0, 0x80, 0xaf, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0xf5, 0xff, 0xe6, 0x97, 0x61],
      wellFormed, [0xf0, 0x9f, 0x99]), // cut at the very end
    "random high bytes, long": bytesOf(5000, HIGH, 7),
    "random bytes, over one pipe chunk": bytesOf(150_000, ANY, 11),
  };
  for (const [name, bytes] of Object.entries(cases)) {
    const r = await client.callTool("raw", "raw", { hex: Buffer.from(bytes).toString("hex") });
    const got = r.content[0].text;
    const want = reference.decode(bytes);
    assert.equal(got.length, want.length, `${name}: length`);
    if (got !== want) {
      let i = 0;
      while (got.charCodeAt(i) === want.charCodeAt(i)) i++;
      assert.fail(`${name}: the text differs from TextDecoder's at unit ${i}: ${got.charCodeAt(i)} vs ${want.charCodeAt(i)}`);
    }
  }
  await client.close();
  life.assertEachClosedOnce();
  assert.equal(runtime.stats().liveAllocations, 0);
  await guard.assertNone();
});

// ---- big strings cut out of an answer by the core (ms_ctx_cut, jcut.c) and put back by the host
// (src/js/core.js #cutAnswer): the result must be what JSON.parse makes of the answer as
// TextDecoder decodes it, whatever the strings hold and wherever they are — and nothing that
// JSON.parse resolves otherwise (a key met twice, an escaped key, "__proto__") may be cut.

/** xorshift32 */
function rng(seed) {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x % n;
  };
}
const ESCAPES = ["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u0041", "\\u0000", "\\u001f", "\\u007f"];
const WIDE_ESCAPES = ["\\u00e9", "\\u4e2d", "\\ud83d\\ude00", "\\ud800", "\\udfff", "\\ude00\\ud83d", "\\uFFFF", "\\uD7FF"];
const RAW = ["é", "日本", "🙂", "ß", "Ω"];
const BAD = [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf0, 0x9f, 0x99], [0xff], [0x80], [0xe1, 0x80]];

/** A JSON string literal (quotes included) of about `size` bytes: bytes, so that it may hold ill-formed UTF-8. */
function bigString(kind, size, r) {
  const parts = [utf8('"')];
  let n = 1;
  while (n < size - 1) {
    let piece;
    const roll = r(10);
    if (roll < 5) piece = utf8("abcdefghij klmnop".slice(r(8), 8 + r(9)));
    else if (roll < 7) piece = utf8(ESCAPES[r(ESCAPES.length)]);
    else if (kind === "ascii") piece = utf8("xyz");
    else if (kind === "wide") piece = utf8(WIDE_ESCAPES[r(WIDE_ESCAPES.length)]);
    else if (kind === "raw") piece = utf8(RAW[r(RAW.length)]);
    else piece = Uint8Array.from(BAD[r(BAD.length)]); // "bad": ill-formed UTF-8
    parts.push(piece);
    n += piece.length;
  }
  parts.push(utf8('"'));
  return concat(...parts);
}

/** bytes of a JSON text from a template: strings are written as UTF-8, Uint8Arrays as they are. */
const json = (...parts) => concat(...parts.map((p) => (typeof p === "string" ? utf8(p) : p)));

test("answers with big strings: the host gets what JSON.parse makes of the decoded answer, wherever the strings are", async (t) => {
  const guard = guardUnhandled(t);
  const runtime = await createRuntime();
  t.after(() => runtime.dispose());
  const life = recordLifecycle(runtime);
  const client = new MCPClient({ mcpServers: { raw: { command: process.execPath, args: [RAW_TEXT] } } }, { runtime });
  const r = rng(20261201);
  const big = (kind = "ascii", size = 6000) => bigString(kind, size, r);
  const text = (s) => json('{"type":"text","text":', s, "}");
  const cases = {
    "one text of each kind": json('{"content":[', text(big("ascii")), ",", text(big("wide")), ",", text(big("raw")), ",", text(big("bad")), '],"isError":false}'),
    "a key met twice, after the big string": json('{"content":[', text(big()), '],"content":[{"type":"text","text":"short"}]}'),
    "a key met twice, the big string under the last": json('{"x":1,"content":[],"x":{"t":', big(), '},"content":[', text(big("raw")), "]}"),
    "an object met twice: the second wins": json('{"content":[],"a":{"t":', big(), '},"a":{"t":null}}'),
    "an escaped key equal to a plain one, before": json('{"content":[{"type":"text","te\\u0078t":', big(), ',"text":"y"}]}'),
    "an escaped key equal to a plain one, after": json('{"content":[{"type":"text","text":', big(), ',"te\\u0078t":"y"}]}'),
    "__proto__ keys": json('{"__proto__":{"text":', big(), '},"content":[{"type":"text","__proto__":', big(), ',"text":', big("wide"), "}]}"),
    "an object of 40 keys": json("{", [...Array(40).keys()].map((k) => `"k${k}":`).map((k, i) => json(k, i % 3 ? "1" : big(), i < 39 ? "," : "")).reduce((a, b) => concat(a, b)), ',"content":[]}'),
    "40 keys, the first met again at the end": json("{", [...Array(40).keys()].map((k) => json(`"k${k}":`, k < 2 ? big() : "1", ",")).reduce((a, b) => concat(a, b)), '"k0":"last","content":[]}'),
    "deeper than the cut goes": json('{"content":[],"a":', [...Array(12).keys()].reduce((inner, i) => json(`{"t${i}":`, big("ascii", 4500), ',"in":', inner, "}"), big()), "}"),
    "80 big strings": json('{"content":[', [...Array(80).keys()].map(() => text(big("ascii", 4200))).reduce((a, b) => json(a, ",", b)), "]}"),
    "integer-like keys": json('{"content":[],"2":', big(), ',"1":', big("raw"), ',"0":[', big(), ",", big("wide"), "]}"),
    "whitespace around everything": json(' {\t"content" :\r [ {"type" : "text" , "text"\t:\t', big(), ' } ] , "isError" : true\r}\t'),
    "strings at the size the cut starts at": json('{"content":[', [4094, 4095, 4096, 4097, 4098].map((n) => text(json('"', "a".repeat(n - 2), '"'))).reduce((a, b) => json(a, ",", b)), "]}"),
    "escapes at every offset of a 16-byte block": json('{"content":[', [...Array(16).keys()].map((k) => text(json('"', "a".repeat(k), ("\\n" + "b".repeat(15)).repeat(300), '"'))).reduce((a, b) => json(a, ",", b)), "]}"),
    "non-ASCII at every offset of a block": json('{"content":[', [...Array(16).keys()].map((k) => text(json('"', "a".repeat(k), ("é" + "b".repeat(14)).repeat(300), '"'))).reduce((a, b) => json(a, ",", b)), "]}"),
  };
  for (let k = 0; k < 60; k++) { // random shapes
    const value = (depth) => {
      const roll = r(depth > 5 ? 3 : 6);
      if (roll === 0) return big(["ascii", "wide", "raw", "bad"][r(4)], 4000 + r(6000));
      if (roll === 1) return utf8(JSON.stringify("s" + r(100)));
      if (roll === 2) return utf8(String(r(1000)));
      if (roll === 3) return json("[", [...Array(r(4))].map(() => value(depth + 1)).reduce((a, b) => json(a, ",", b), utf8("")).subarray(1), "]");
      const keys = [...Array(r(5))].map(() => `"${["a", "b", "text", "__proto__", "te\\u0078t"][r(5)]}"`);
      return json("{", keys.map((key) => json(key, ":", value(depth + 1))).reduce((a, b) => json(a, ",", b), utf8("")).subarray(1), "}");
    };
    cases[`random shape ${k}`] = json('{"content":[],"v":', value(0), "}");
  }
  const normal = (v) => ({ ...v, content: v.content ?? [], isError: v.isError === true, structuredContent: v.structuredContent ?? null });
  // a lone surrogate escape becomes U+FFFD (README, "Strings arrive intact")
  const wellFormed = (v) => (typeof v === "string" ? v.toWellFormed()
    : Array.isArray(v) ? v.map(wellFormed)
    : v !== null && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k.toWellFormed(), wellFormed(x)]))
    : v);
  // every answer past the size the core starts cutting at (core.js CUT_MIN_ANSWER): a member first
  const padded = (bytes) => {
    if (bytes.length >= 17000) return bytes;
    const at = bytes.indexOf(0x7b) + 1; // after the root's "{"
    return concat(bytes.subarray(0, at), utf8(`"~pad":"${"p".repeat(17000 - bytes.length)}",`), bytes.subarray(at));
  };
  for (const [name, unpadded] of Object.entries(cases)) {
    const bytes = padded(unpadded);
    const want = normal(wellFormed(JSON.parse(reference.decode(bytes))));
    const got = await client.callTool("raw", "json", { hex: Buffer.from(bytes).toString("hex") });
    assert.deepStrictEqual(got, want, name);
  }
  await client.close();
  life.assertEachClosedOnce();
  assert.equal(runtime.stats().liveAllocations, 0);
  await guard.assertNone();
});
