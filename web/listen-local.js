// listen-local.js — preloaded (`node --import`) into a server we do not own
// (server-everything's Streamable HTTP mode listens on $PORT on every
// interface). Every listen() on a port binds 127.0.0.1 only, and the port
// actually bound (PORT=0: an ephemeral one) is reported on stderr as
// "mcpstream-listening <port>".
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  const port = typeof first === "number" ? first : typeof first === "string" && /^\d+$/.test(first) ? Number(first) : null;
  if (port === null) return listen.apply(this, args);
  this.once("listening", () => process.stderr.write(`mcpstream-listening ${this.address().port}\n`));
  return listen.call(this, { port, host: "127.0.0.1" }, args.find((a) => typeof a === "function"));
};
