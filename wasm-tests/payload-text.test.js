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
