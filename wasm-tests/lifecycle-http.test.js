// The lifecycle contract (docs/architecture.md §3) over Streamable HTTP: every scenario of
// lifecycle-scenarios.js (shared with lifecycle.test.js, stdio), owned and borrowed, against
// the real server-everything (`streamableHttp`) behind a recording proxy that shows what
// reached the server: exactly one DELETE per owned session when the ending call settles
// (none for borrowed sessions), notifications/cancelled for a tool call in flight before
// that DELETE, and no HTTP exchange left open.
import { lifecycleSuite } from "./lifecycle-scenarios.js";

lifecycleSuite("http");
