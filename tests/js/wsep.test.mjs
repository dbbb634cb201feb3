// Unit tests of the browser client module (node --test tests/js/).
// A scripted WebSocket stands in for the server; the end-to-end path against the real
// server runs in Chromium (tests/web/).

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  DEFAULT_FLOW_WINDOW,
  SUBPROTOCOL_V2,
  V1_MAX_MESSAGE_SIZE,
  WsepError,
  commandJSON,
  connect,
  decodeMessage,
  checkServer,
  exec,
  subprotocolOffer,
} from "../../packages/wsep-server/src/wsep_server/web/static/wsep.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

class FakeWebSocket {
  static last = null;

  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.protocol = "";
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    FakeWebSocket.last = this;
  }

  accept(protocol = "") {
    this.protocol = protocol;
    this.readyState = 1;
    this.onopen?.({});
  }

  send(data) {
    assert.ok(data instanceof Uint8Array, "messages are sent as binary");
    this.sent.push(data);
  }

  close(code = 1000, reason = "") {
    if (this.readyState >= 2) return;
    this.closedWith = { code, reason };
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.({ code, reason }));
  }

  // --- the server's side ---
  deliver(header, body = new Uint8Array(0)) {
    const head = enc.encode(JSON.stringify(header) + "\n");
    const msg = new Uint8Array(head.length + body.length);
    msg.set(head);
    msg.set(body, head.length);
    this.onmessage({ data: msg.buffer });
  }

  drop(code, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  messages() {
    return this.sent.map((m) => decodeMessage(m));
  }

  headers() {
    return this.messages().map((m) => m.header);
  }
}

async function open(protocol = SUBPROTOCOL_V2, options = {}) {
  const pending = connect("ws://127.0.0.1:1/", { WebSocket: FakeWebSocket, ...options });
  const ws = FakeWebSocket.last;
  ws.accept(protocol);
  return { conn: await pending, ws };
}

async function started(command, options = {}, protocol = SUBPROTOCOL_V2) {
  const { conn, ws } = await open(protocol);
  const pending = conn.start(command, options);
  ws.deliver({ type: "pid", pid: 4242 });
  return { proc: await pending, ws };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test("offers v2 and a token subprotocol, and uses the version the server selected", async () => {
  const pending = connect("ws://127.0.0.1:1/x", { WebSocket: FakeWebSocket, token: "abc.DEF-1_2" });
  const ws = FakeWebSocket.last;
  assert.deepEqual(ws.protocols, ["wsep.v2", "wsep.v1", "wsep.token.abc.DEF-1_2"]);
  assert.equal(ws.binaryType, "arraybuffer");
  ws.accept("wsep.v2");
  const conn = await pending;
  assert.equal(conn.version, 2);

  const { conn: v1 } = await open("");
  assert.equal(v1.version, 1);
  assert.equal(v1.maxMessageSize, V1_MAX_MESSAGE_SIZE);
});

test("token as a query parameter; v1-only offers no subprotocol", async () => {
  connect("http://127.0.0.1:1/path?a=1", {
    WebSocket: FakeWebSocket,
    token: "t o/k",
    tokenIn: "query",
    versions: [1],
  });
  const ws = FakeWebSocket.last;
  assert.equal(ws.url, "ws://127.0.0.1:1/path?a=1&token=t+o%2Fk");
  assert.deepEqual(ws.protocols, []);
});

test("every offer that names anything names a version the server can answer with", () => {
  // A browser aborts a handshake whose offer got no subprotocol back (PROTOCOL.md 7).
  const T = "wsep.token.tok";
  assert.deepEqual(subprotocolOffer([1]), []); // the Go server's browser client
  assert.deepEqual(subprotocolOffer([1], "tok"), ["wsep.v1", T]);
  assert.deepEqual(subprotocolOffer([2]), ["wsep.v2"]);
  assert.deepEqual(subprotocolOffer([2], "tok"), ["wsep.v2", T]);
  assert.deepEqual(subprotocolOffer([1, 2]), ["wsep.v2", "wsep.v1"]);
  assert.deepEqual(subprotocolOffer([2, 1], "tok"), ["wsep.v2", "wsep.v1", T]);
  for (const versions of [[1], [2], [1, 2]]) {
    const offer = subprotocolOffer(versions, "tok");
    assert.ok(offer.some((p) => p === "wsep.v1" || p === "wsep.v2"), `${versions}: ${offer}`);
    assert.ok(!offer.includes(T) || offer.length > 1, "never a token on its own");
  }
  for (const bad of [[], [3], "1"]) {
    assert.throws(() => subprotocolOffer(bad), (err) => err.code === "invalid");
  }
});

test("a v1-only connection with a token offers wsep.v1 and accepts its answer", async () => {
  const pending = connect("ws://127.0.0.1:1/", {
    WebSocket: FakeWebSocket,
    token: "tok",
    versions: [1],
  });
  const ws = FakeWebSocket.last;
  assert.deepEqual(ws.protocols, ["wsep.v1", "wsep.token.tok"]);
  ws.accept("wsep.v1");
  const conn = await pending;
  assert.equal(conn.version, 1);
  assert.equal(conn.subprotocol, "wsep.v1");
  assert.equal(conn.maxMessageSize, V1_MAX_MESSAGE_SIZE);
});

test("a token a subprotocol cannot carry is refused before connecting", () => {
  assert.throws(
    () => connect("ws://127.0.0.1:1/", { WebSocket: FakeWebSocket, token: "a b" }),
    (err) => err instanceof WsepError && err.code === "invalid" && /tokenIn/.test(err.message),
  );
});

test("a connection that fails to open rejects with its close code", async () => {
  const pending = connect("ws://127.0.0.1:1/", { WebSocket: FakeWebSocket });
  FakeWebSocket.last.drop(1006);
  await assert.rejects(pending, (err) => err.code === "connect_failed" && err.closeCode === 1006);
});

test("start sends the Go wire format, then asks for flow control in v2", async () => {
  const { conn, ws } = await open();
  const pending = conn.start(
    { command: "sh", args: ["-c", "x"], tty: true, rows: 30, cols: 100, env: { A: "1" } },
    { id: "sess-1" },
  );
  assert.equal(
    dec.decode(ws.sent[0]),
    '{"type":"start","id":"sess-1","command":{"command":"sh","args":["-c","x"],"stdin":false,' +
      '"tty":true,"rows":30,"cols":100,"uid":0,"gid":0,"env":["A=1"],"working_dir":""}}\n',
  );
  assert.deepEqual(ws.headers()[1], { type: "flow", window: DEFAULT_FLOW_WINDOW });
  ws.deliver({ type: "pid", pid: 7 });
  const proc = await pending;
  assert.equal(proc.pid, 7);
  assert.throws(() => conn.start("again"), WsepError);
});

test("a v1 server gets no flow message and no signals", async () => {
  const { proc, ws } = await started("cat", { flowWindow: 100 }, "");
  assert.deepEqual(
    ws.headers().map((h) => h.type),
    ["start"],
  );
  assert.throws(() => proc.signal("INT"), (err) => err.code === "unsupported");
});

test("a window larger than the protocol allows is clamped", async () => {
  const { ws } = await started("x", { flowWindow: 2 ** 40 });
  assert.deepEqual(ws.headers()[1], { type: "flow", window: 0xffffffff });
});

test("commandJSON fills defaults and rejects an empty command", () => {
  assert.deepEqual(commandJSON("ls"), {
    command: "ls",
    args: [],
    stdin: false,
    tty: false,
    rows: 0,
    cols: 0,
    uid: 0,
    gid: 0,
    env: [],
    working_dir: "",
  });
  assert.throws(() => commandJSON({ command: "" }), WsepError);
});

test("stdout and stderr callbacks, then the exit status, then a normal close", async () => {
  const out = [];
  const err = [];
  const { proc, ws } = await started("x", {
    onStdout: (b) => out.push(dec.decode(b)),
    onStderr: (b) => err.push(dec.decode(b)),
  });
  ws.deliver({ type: "stdout" }, enc.encode("hello "));
  ws.deliver({ type: "stderr" }, enc.encode("oops"));
  ws.deliver({ type: "stdout" }, enc.encode("world"));
  ws.deliver({ type: "surprise", x: 1 }); // unknown types are ignored
  ws.deliver({ type: "exit_code", exit_code: 3, error: "exit status 3" });
  const status = await proc.exited;
  assert.deepEqual(status, { exitCode: 3, error: "exit status 3", signal: null, coreDumped: null });
  assert.equal(out.join(""), "hello world");
  assert.equal(err.join(""), "oops");
  assert.equal(proc.bytesReceived, 15);
  assert.deepEqual(ws.closedWith, { code: 1000, reason: "" });
});

test("v2 exit fields are passed through", async () => {
  const { proc, ws } = await started("x");
  ws.deliver({
    type: "exit_code",
    exit_code: -1,
    error: "signal: interrupt",
    signal: "SIGINT",
    core_dumped: false,
  });
  assert.deepEqual(await proc.exited, {
    exitCode: -1,
    error: "signal: interrupt",
    signal: "SIGINT",
    coreDumped: false,
  });
});

test("async iteration of stdout, ending at the exit", async () => {
  const { proc, ws } = await started("x", { encoding: "utf-8" });
  ws.deliver({ type: "stdout" }, enc.encode("a"));
  const chunks = [];
  const reading = (async () => {
    for await (const chunk of proc.stdout) chunks.push(chunk);
  })();
  await tick();
  ws.deliver({ type: "stdout" }, enc.encode("b"));
  ws.deliver({ type: "exit_code", exit_code: 0, error: "" });
  await reading;
  assert.deepEqual(chunks, ["a", "b"]);
});

test("flow acks follow consumption by the iterator, not arrival", async () => {
  const { proc, ws } = await started("x", { flowWindow: 8 }); // ack every 2 bytes
  const acks = () => ws.headers().filter((h) => h.type === "flow_ack");
  for (const s of ["ab", "cd", "ef"]) ws.deliver({ type: "stdout" }, enc.encode(s));
  assert.equal(acks().length, 0, "nothing consumed yet");
  const it = proc.stdout[Symbol.asyncIterator]();
  assert.equal(dec.decode((await it.next()).value), "ab");
  assert.equal(acks().length, 0, "the first chunk is still being processed");
  await it.next();
  assert.deepEqual(acks(), [{ type: "flow_ack", consumed: 2 }]);
  await it.next();
  assert.deepEqual(acks().at(-1), { type: "flow_ack", consumed: 4 });
  await it.return();
  assert.deepEqual(acks().at(-1), { type: "flow_ack", consumed: 6 });
});

test("a callback's promise holds the ack until it settles", async () => {
  let release;
  const { ws } = await started("x", {
    flowWindow: 4,
    onStdout: () =>
      new Promise((resolve) => {
        release = resolve;
      }),
  });
  const acks = () => ws.headers().filter((h) => h.type === "flow_ack");
  ws.deliver({ type: "stdout" }, enc.encode("wxyz"));
  await tick();
  assert.equal(acks().length, 0);
  release();
  await tick();
  assert.deepEqual(acks(), [{ type: "flow_ack", consumed: 4 }]);
});

// A stream of 4-byte characters, cut into messages at every possible offset.
const FOUR_BYTE = "😀𝄞🀄𐍈🚀";
const STREAM = enc.encode(FOUR_BYTE);

async function renderChunks(chunks) {
  let text = "";
  const { proc, ws } = await started("x", { encoding: "utf-8", onStdout: (s) => (text += s) });
  for (const c of chunks) ws.deliver({ type: "stdout" }, c);
  ws.deliver({ type: "exit_code", exit_code: 0, error: "" });
  await proc.exited;
  return text;
}

test("UTF-8: 4-byte characters split at every offset decode without replacement", async () => {
  assert.equal(STREAM.length, 20);
  for (let cut = 1; cut < STREAM.length; cut++) {
    const text = await renderChunks([STREAM.subarray(0, cut), STREAM.subarray(cut)]);
    assert.equal(text, FOUR_BYTE, `cut at byte ${cut}`);
  }
  for (let size = 1; size <= 5; size++) {
    const chunks = [];
    for (let at = 0; at < STREAM.length; at += size) chunks.push(STREAM.subarray(at, at + size));
    const text = await renderChunks(chunks);
    assert.equal(text, FOUR_BYTE, `chunks of ${size} bytes`);
    assert.ok(!text.includes("\uFFFD"));
  }
});

test("UTF-8: each stream has its own decoder", async () => {
  let out = "";
  let err = "";
  const { proc, ws } = await started("x", {
    encoding: "utf-8",
    onStdout: (s) => (out += s),
    onStderr: (s) => (err += s),
  });
  const a = enc.encode("😀");
  const b = enc.encode("🚀");
  ws.deliver({ type: "stdout" }, a.subarray(0, 2));
  ws.deliver({ type: "stderr" }, b.subarray(0, 1));
  ws.deliver({ type: "stdout" }, a.subarray(2));
  ws.deliver({ type: "stderr" }, b.subarray(1));
  ws.deliver({ type: "exit_code", exit_code: 0, error: "" });
  await proc.exited;
  assert.equal(out, "😀");
  assert.equal(err, "🚀");
});

test("UTF-8: a character cut off by the exit shows as one replacement character", async () => {
  const text = await renderChunks([STREAM.subarray(0, 6)]);
  assert.equal(text, "😀\uFFFD");
});

test("stdin: strings as UTF-8, split to fit a v1 server's message limit", async () => {
  const { proc, ws } = await started({ command: "cat", stdin: true }, {}, "");
  proc.write("é");
  const big = new Uint8Array(150_000).fill(0x61);
  proc.write(big);
  proc.closeStdin();
  proc.closeStdin(); // once only
  const msgs = ws.messages().slice(1);
  assert.deepEqual([...msgs[0].body], [0xc3, 0xa9]);
  const data = msgs.slice(1, -1);
  assert.ok(data.every((m) => m.header.type === "stdin"));
  assert.ok(ws.sent.slice(2, -1).every((m) => m.length <= V1_MAX_MESSAGE_SIZE));
  assert.equal(
    data.reduce((n, m) => n + m.body.length, 0),
    150_000,
  );
  assert.deepEqual(msgs.at(-1).header, { type: "close_stdin" });
  assert.throws(() => proc.write("more"), WsepError);
});

test("resize and signals", async () => {
  const { proc, ws } = await started({ command: "sh", tty: true });
  proc.resize(40, 120);
  proc.signal("INT");
  proc.signal(15);
  const tail = ws.headers().slice(-3);
  assert.deepEqual(tail, [
    { type: "resize", rows: 40, cols: 120 },
    { type: "signal", signal: "SIGINT" },
    { type: "signal", signal: "SIGTERM" },
  ]);
  assert.throws(() => proc.resize(-1, 5), WsepError);
  assert.throws(() => proc.resize(1.5, 5), WsepError);
});

test("a v2 error message rejects the start with its code and the close code", async () => {
  const { conn, ws } = await open();
  const pending = conn.start("nope");
  ws.deliver({ type: "error", code: "command_not_found", message: 'exec: "nope": not found' });
  ws.drop(1011, "command not found");
  await assert.rejects(pending, (err) => {
    assert.equal(err.code, "command_not_found");
    assert.equal(err.closeCode, 1011);
    assert.match(err.message, /not found/);
    return true;
  });
});

test("a connection lost before the exit rejects exited", async () => {
  const { proc, ws } = await started("x");
  ws.drop(1006);
  await assert.rejects(proc.exited, (err) => err.code === "connection_closed" && err.closeCode === 1006);
  proc.write("ignored after the end");
});

test("a malformed message closes with 1002 and rejects", async () => {
  const { proc, ws } = await started("x");
  ws.onmessage({ data: "not json\n" });
  await assert.rejects(proc.exited, (err) => err.code === "malformed");
  assert.equal(ws.closedWith.code, 1002);
});

test("exec connects and starts in one call", async () => {
  const pending = exec("ws://127.0.0.1:1/", "true", { WebSocket: FakeWebSocket });
  const ws = FakeWebSocket.last;
  ws.accept("wsep.v2");
  await tick();
  ws.deliver({ type: "pid", pid: 1 });
  const proc = await pending;
  assert.equal(proc.pid, 1);
});

test("attach sends attach, resolves after attached, and an observer sends no input", async () => {
  const { conn, ws } = await open();
  const pending = conn.attach("s1", { readOnly: true, rows: 24, cols: 80, flowWindow: 0 });
  assert.deepEqual(ws.headers()[0], { type: "attach", id: "s1", read_only: true, rows: 24, cols: 80 });
  ws.deliver({ type: "pid", pid: 7 });
  let resolved = false;
  pending.then(() => (resolved = true));
  await tick();
  assert.equal(resolved, false, "waits for attached");
  ws.deliver({ type: "attached", id: "s1", created: false, tty: true, read_only: true });
  const proc = await pending;
  assert.deepEqual(proc.attached, { id: "s1", created: false, readOnly: true });
  proc.write("ls\r");
  proc.resize(10, 10);
  assert.equal(ws.sent.length, 1, "an observer's input would end its connection");
});

test("attach with a command, and a missing session rejects with no_such_session", async () => {
  const { conn, ws } = await open();
  const pending = conn.attach("gone", {});
  ws.deliver({ type: "error", code: "no_such_session", message: "no such session", close_code: 1008 });
  ws.drop(1008, "no such session");
  await assert.rejects(pending, (err) => err.code === "no_such_session");

  const second = await open();
  second.conn.attach("new", { command: { command: "bash", tty: true }, flowWindow: 0 });
  const header = second.ws.headers()[0];
  assert.equal(header.command.command, "bash");
  assert.equal(header.command.tty, true);

  const v1 = await open("");
  assert.throws(() => v1.conn.attach("x"), (err) => err.code === "unsupported");
});

test("listSessions and endSession are answered on an idle v2 connection", async () => {
  const { conn, ws } = await open();
  const listing = conn.listSessions();
  assert.deepEqual(ws.headers().at(-1), { type: "list_sessions" });
  ws.deliver({ type: "sessions", sessions: [{ id: "a", argv: ["bash"] }] });
  assert.deepEqual(await listing, [{ id: "a", argv: ["bash"] }]);
  const ending = conn.endSession("a");
  assert.deepEqual(ws.headers().at(-1), { type: "end_session", id: "a" });
  ws.deliver({ type: "session_ended", id: "a" });
  await ending;
  const missing = conn.endSession("b");
  ws.deliver({ type: "error", code: "no_such_session", message: "no such session" });
  await assert.rejects(missing, (err) => err.code === "no_such_session");
});

test("checkServer reports status, reason and identity; no server is status 0", async () => {
  const calls = [];
  const answer = (status, headers, body) => async (url, init) => {
    calls.push({ url, init });
    return {
      status,
      ok: status === 200,
      headers: new Map(Object.entries(headers)),
      json: async () => body,
    };
  };
  const ok = await checkServer("http://127.0.0.1:1/api/check", {
    token: "tok",
    fetch: answer(200, { "Content-Type": "application/json" }, { identity: "alice", versions: [1, 2], host: "h" }),
  });
  assert.deepEqual(ok, { status: 200, ok: true, reason: "", identity: "alice", versions: [1, 2], host: "h" });
  assert.equal(calls[0].init.method, "POST");
  assert.equal(calls[0].init.headers.Authorization, "Bearer tok");
  const refused = await checkServer("http://127.0.0.1:1/api/check", {
    token: "t o",
    tokenIn: "query",
    fetch: answer(401, { "X-Wsep-Error": "invalid token" }, {}),
  });
  assert.equal(refused.status, 401);
  assert.equal(refused.reason, "invalid token");
  assert.match(calls[1].url, /\?token=t\+o$/);
  const elsewhere = await checkServer("http://127.0.0.1:1/api/check", {
    token: "tok",
    fetch: answer(401, { "X-Wsep-Error": "token in Authorization header not accepted" }, {}),
  });
  assert.equal(elsewhere.ok, true, "only the WebSocket can check a subprotocol-only token");
  const down = await checkServer("http://127.0.0.1:1/api/check", {
    fetch: async () => {
      throw new TypeError("Failed to fetch");
    },
  });
  assert.deepEqual(down, { status: 0, ok: false, reason: "server unreachable" });
});
