// wsep client for browsers (and any runtime with a WHATWG WebSocket): an ES module,
// usable as is, no build step.
//
//   import { exec } from "/static/wsep.js";
//   const proc = await exec("ws://host/", { command: "ls", args: ["-l"] }, {
//     token, onStdout: (text) => console.log(text), encoding: "utf-8",
//   });
//   const status = await proc.exited; // { exitCode, error, signal, coreDumped }
//
// It speaks protocol v1 (the Go original's wire format) to any server and v2 when the
// server selects the "wsep.v2" subprotocol it offers. In v2 it asks for flow control:
// the server keeps at most `flowWindow` output bytes unacknowledged, and the client
// acknowledges bytes once they are consumed (a callback returned, or the promise it
// returned settled, or an async iterator moved past them).

export const SUBPROTOCOL_V1 = "wsep.v1";
export const SUBPROTOCOL_V2 = "wsep.v2";
export const TOKEN_SUBPROTOCOL_PREFIX = "wsep.token.";
export const V1_MAX_MESSAGE_SIZE = 64000;
export const V2_MAX_MESSAGE_SIZE = 1048576 + 1024;
export const DEFAULT_FLOW_WINDOW = 256 * 1024;
export const MAX_FLOW_WINDOW = 0xffffffff;

const textEncoder = new TextEncoder();
const headerDecoder = new TextDecoder("utf-8", { fatal: true });
const NEWLINE = 0x0a;
const STDIN_HEADER = textEncoder.encode('{"type":"stdin"}\n');
// Characters allowed in a subprotocol name (an RFC 7230 token).
const TOKEN_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Why a connection or process failed: `code` is the v2 error code or a client-side one. */
export class WsepError extends Error {
  constructor(message, { code = "error", closeCode = null } = {}) {
    super(message);
    this.name = "WsepError";
    this.code = code;
    this.closeCode = closeCode;
  }
}

/** One wire message: the JSON header, a newline, and the raw body. */
export function encodeMessage(header, body) {
  const head = textEncoder.encode(JSON.stringify(header) + "\n");
  if (!body || body.length === 0) return head;
  const out = new Uint8Array(head.length + body.length);
  out.set(head, 0);
  out.set(body, head.length);
  return out;
}

/** Split a received message (ArrayBuffer, typed array or string) into header and body. */
export function decodeMessage(data) {
  let bytes;
  if (typeof data === "string") bytes = textEncoder.encode(data);
  else if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
  else if (ArrayBuffer.isView(data)) {
    bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } else throw new WsepError("unsupported message data", { code: "malformed" });
  const newline = bytes.indexOf(NEWLINE);
  const headBytes = newline < 0 ? bytes : bytes.subarray(0, newline);
  const body = newline < 0 ? new Uint8Array(0) : bytes.subarray(newline + 1);
  let header;
  try {
    header = JSON.parse(headerDecoder.decode(headBytes));
  } catch (err) {
    throw new WsepError(`malformed message header: ${err.message}`, { code: "malformed" });
  }
  if (header === null || typeof header !== "object" || typeof header.type !== "string") {
    throw new WsepError("message header without a type", { code: "malformed" });
  }
  return { header, body };
}

/** The start message's command object, in the Go struct's field order. */
export function commandJSON(command) {
  const c = typeof command === "string" ? { command } : command;
  if (!c || typeof c.command !== "string" || c.command === "") {
    throw new WsepError("command.command must be a non-empty string", { code: "invalid" });
  }
  let env = c.env ?? [];
  if (!Array.isArray(env)) env = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return {
    command: c.command,
    args: [...(c.args ?? [])],
    stdin: Boolean(c.stdin),
    tty: Boolean(c.tty),
    rows: c.rows ?? 0,
    cols: c.cols ?? 0,
    uid: c.uid ?? 0,
    gid: c.gid ?? 0,
    env,
    working_dir: c.workingDir ?? c.working_dir ?? "",
  };
}

/** A ws:// or wss:// URL for `url`, which may be relative or http(s). */
export function websocketURL(url, base = globalThis.location?.href) {
  const u = new URL(url, base);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  return u;
}

/**
 * The Sec-WebSocket-Protocol offer for `versions` (PROTOCOL.md, "Versions and
 * negotiation"): a browser aborts a handshake that offered subprotocols and got none
 * back, so whenever anything is offered, every accepted version is named too. Only
 * v1 without a token in a subprotocol offers nothing (what the Go server expects).
 */
export function subprotocolOffer(versions = [1, 2], token = null) {
  if (!Array.isArray(versions) || !versions.some((v) => v === 1 || v === 2)) {
    throw new WsepError("versions must include 1 or 2", { code: "invalid" });
  }
  const offer = versions.includes(2) ? [SUBPROTOCOL_V2] : [];
  if (versions.includes(1) && (offer.length || token)) offer.push(SUBPROTOCOL_V1);
  if (token) {
    if (!TOKEN_CHARS.test(token)) {
      throw new WsepError("token has characters a subprotocol cannot carry; use tokenIn: 'query'", {
        code: "invalid",
      });
    }
    offer.push(TOKEN_SUBPROTOCOL_PREFIX + token);
  }
  return offer;
}

/**
 * Open a connection. Options: `token` (sent as a "wsep.token.<token>" subprotocol entry,
 * or as `?token=` with `tokenIn: "query"`), `versions` ([1, 2] by default; [1] never
 * offers v2, [2] refuses a v1-only server), `WebSocket` (a constructor, default the
 * global one).
 */
export function connect(url, options = {}) {
  const { token, tokenIn = "subprotocol", versions = [1, 2] } = options;
  const WS = options.WebSocket ?? globalThis.WebSocket;
  if (typeof WS !== "function") throw new WsepError("no WebSocket available", { code: "invalid" });
  const target = websocketURL(url);
  if (token && tokenIn === "query") target.searchParams.set("token", token);
  else if (token && tokenIn !== "subprotocol") {
    throw new WsepError(`unknown tokenIn: ${tokenIn}`, { code: "invalid" });
  }
  const protocols = subprotocolOffer(versions, token && tokenIn === "subprotocol" ? token : null);
  return new Promise((resolve, reject) => {
    const ws = new WS(target.toString(), protocols);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      ws.onerror = null;
      ws.onclose = null;
      resolve(new Connection(ws, options));
    };
    ws.onerror = () => {};
    ws.onclose = (ev) => {
      reject(
        new WsepError(`could not connect (close ${ev.code}${ev.reason ? ": " + ev.reason : ""})`, {
          code: "connect_failed",
          closeCode: ev.code,
        }),
      );
    };
  });
}

/** connect() and start() in one: resolves with the running Process. */
export async function exec(url, command, options = {}) {
  const conn = await connect(url, options);
  try {
    return await conn.start(command, options);
  } catch (err) {
    conn.close();
    throw err;
  }
}

/** An open WebSocket on which one process can be started. */
export class Connection {
  constructor(ws, options = {}) {
    this.socket = ws;
    this.version = ws.protocol === SUBPROTOCOL_V2 ? 2 : 1;
    this.subprotocol = ws.protocol || null;
    this.maxMessageSize = this.version >= 2 ? V2_MAX_MESSAGE_SIZE : V1_MAX_MESSAGE_SIZE;
    this.options = options;
    this.process = null;
  }

  /**
   * Send `start` and resolve with the Process once the server sent its pid.
   * Options: `id` (a reattachable session id), `onStdout`/`onStderr` callbacks (else
   * iterate `process.stdout`), `encoding: "utf-8"` (deliver strings, decoded per stream
   * across message boundaries), `flowWindow` (bytes; 0 turns flow control off).
   */
  start(command, options = {}) {
    if (this.process) throw new WsepError("start may be sent only once", { code: "invalid" });
    const opts = { ...this.options, ...options };
    const proc = new Process(this, opts);
    this.process = proc;
    proc._send({ type: "start", id: opts.id ?? "", command: commandJSON(command) });
    const window = Math.min(opts.flowWindow ?? DEFAULT_FLOW_WINDOW, MAX_FLOW_WINDOW);
    if (this.version >= 2 && window > 0) proc._enableFlow(window);
    return proc._started;
  }

  /**
   * Attach to reattachable session `id` (v2): resolves with the Process once attached.
   * Options as for start(), plus `command` (start it when there is no such session;
   * without it a missing session rejects with code "no_such_session"), `readOnly`
   * (observe: no input, the size does not count), `rows`, `cols`.
   */
  attach(id, options = {}) {
    if (this.version < 2) {
      throw new WsepError("attach needs protocol v2, which the server did not select", {
        code: "unsupported",
      });
    }
    if (this.process) throw new WsepError("start may be sent only once", { code: "invalid" });
    const opts = { ...this.options, ...options };
    const proc = new Process(this, opts);
    this.process = proc;
    const header = {
      type: "attach",
      id,
      read_only: Boolean(opts.readOnly),
      rows: opts.rows ?? 0,
      cols: opts.cols ?? 0,
    };
    if (opts.command) header.command = commandJSON(opts.command);
    proc.readOnly = header.read_only;
    proc._awaitAttached = true;
    proc._send(header);
    const window = Math.min(opts.flowWindow ?? DEFAULT_FLOW_WINDOW, MAX_FLOW_WINDOW);
    if (window > 0) proc._enableFlow(window);
    return proc._started;
  }

  /** The caller's reattachable sessions (v2): [{id, argv, state, clients, created, …}]. */
  async listSessions() {
    const reply = await this._request({ type: "list_sessions" }, "sessions");
    return reply.sessions ?? [];
  }

  /** End session `id` (v2); resolves once its process is gone. */
  async endSession(id) {
    await this._request({ type: "end_session", id }, "session_ended");
  }

  /** One management request on an idle v2 connection, answered by `replyType`. */
  _request(header, replyType) {
    if (this.version < 2) {
      return Promise.reject(
        new WsepError("session management needs protocol v2", { code: "unsupported" }),
      );
    }
    if (this.process) {
      return Promise.reject(new WsepError("a process was started here", { code: "invalid" }));
    }
    const ws = this.socket;
    return new Promise((resolve, reject) => {
      let error = null;
      ws.onmessage = (ev) => {
        let msg;
        try {
          msg = decodeMessage(ev.data);
        } catch (err) {
          reject(err);
          return;
        }
        if (msg.header.type === replyType) resolve(msg.header);
        else if (msg.header.type === "error") {
          error = new WsepError(msg.header.message || msg.header.code, {
            code: msg.header.code || "error",
            closeCode: msg.header.close_code ?? null,
          });
          reject(error);
        }
      };
      ws.onclose = (ev) => {
        reject(
          error ??
            new WsepError(`connection closed (${ev.code})`, {
              code: "connection_closed",
              closeCode: ev.code,
            }),
        );
      };
      ws.send(encodeMessage(header));
    });
  }

  close(code = 1000, reason = "") {
    if (this.socket.readyState <= 1) this.socket.close(code, reason);
  }
}

/**
 * Ask the server, over plain HTTP, whether this page may connect: browsers hide the
 * HTTP status of a refused WebSocket handshake, so the web terminal asks first.
 * `checkURL` answers a POST through the same host, origin and authentication checks as
 * the WebSocket. Resolves with {status, ok, reason, identity, versions, host}; status 0
 * means the server could not be reached.
 */
export async function checkServer(checkURL, { token, tokenIn = "subprotocol", fetch: f } = {}) {
  const doFetch = f ?? globalThis.fetch;
  const url = new URL(checkURL, globalThis.location?.href);
  const headers = {};
  if (token && tokenIn === "query") url.searchParams.set("token", token);
  else if (token) headers.Authorization = `Bearer ${token}`;
  let resp;
  try {
    resp = await doFetch(url.toString(), {
      method: "POST",
      headers,
      cache: "no-store",
      credentials: "same-origin",
    });
  } catch {
    return { status: 0, ok: false, reason: "server unreachable" };
  }
  let body = {};
  try {
    if ((resp.headers.get("Content-Type") || "").includes("json")) body = await resp.json();
  } catch {
    body = {};
  }
  const reason = resp.headers.get("X-Wsep-Error") || body.reason || "";
  // A server that takes tokens only as a subprotocol entry (--token-locations) cannot
  // be asked over HTTP: the WebSocket itself will tell.
  const unverifiable = resp.status === 401 && /^token in .* not accepted/.test(reason);
  return {
    status: resp.status,
    ok: resp.ok || unverifiable,
    reason,
    identity: body.identity ?? null,
    versions: body.versions ?? [],
    host: body.host ?? "",
  };
}

/** One output stream: delivers to a callback or queues for async iteration. */
class OutputStream {
  constructor(proc, name, callback, encoding) {
    this._proc = proc;
    this.name = name;
    this._callback = callback ?? null;
    this._decoder = encoding ? new TextDecoder(encoding) : null;
    this._queue = []; // [value, nbytes]
    this._waiter = null;
    this._ended = false;
    this._unacked = 0; // bytes of the item last handed to the iterator
  }

  _push(bytes) {
    const n = bytes.length;
    let value = bytes;
    if (this._decoder) {
      value = this._decoder.decode(bytes, { stream: true });
      if (value === "") {
        this._proc._consumed(n); // only part of a character: nothing to show yet
        return;
      }
    }
    this._deliver(value, n);
  }

  _deliver(value, n) {
    if (this._callback) {
      let result;
      try {
        result = this._callback(value);
      } catch (err) {
        this._proc._consumed(n);
        throw err;
      }
      if (result && typeof result.then === "function") {
        result.then(
          () => this._proc._consumed(n),
          () => this._proc._consumed(n),
        );
      } else this._proc._consumed(n);
      return;
    }
    if (this._waiter) {
      const resolve = this._waiter;
      this._waiter = null;
      this._unacked = n;
      resolve({ value, done: false });
    } else this._queue.push([value, n]);
  }

  _end() {
    if (this._ended) return;
    if (this._decoder) {
      const rest = this._decoder.decode();
      if (rest) this._deliver(rest, 0);
    }
    this._ended = true;
    if (this._waiter) {
      const resolve = this._waiter;
      this._waiter = null;
      resolve({ value: undefined, done: true });
    }
  }

  _ackLast() {
    if (this._unacked) {
      const n = this._unacked;
      this._unacked = 0;
      this._proc._consumed(n);
    }
  }

  next() {
    if (this._callback) {
      return Promise.reject(new WsepError(`${this.name} goes to a callback`, { code: "invalid" }));
    }
    this._ackLast();
    if (this._queue.length) {
      const [value, n] = this._queue.shift();
      this._unacked = n;
      return Promise.resolve({ value, done: false });
    }
    if (this._ended) return Promise.resolve({ value: undefined, done: true });
    if (this._waiter) {
      return Promise.reject(new WsepError(`${this.name} is already being read`, { code: "invalid" }));
    }
    return new Promise((resolve) => {
      this._waiter = resolve;
    });
  }

  return() {
    // The reader stopped: whatever is queued counts as consumed, and so will later data.
    this._ackLast();
    for (const [, n] of this._queue) this._proc._consumed(n);
    this._queue = [];
    this._callback = () => {};
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator]() {
    return this;
  }
}

/** A started process: output, input, resize, signals and its exit status. */
export class Process {
  constructor(conn, opts) {
    this.connection = conn;
    this.version = conn.version;
    this.pid = null;
    this.status = null;
    this.bytesReceived = 0;
    this.flowWindow = 0;
    this._consumedBytes = 0;
    this._ackedBytes = 0;
    this._stdinClosed = false;
    this._error = null;
    this.attached = null;
    this.readOnly = false;
    // attach always gets "attached" after "pid" (PROTOCOL.md 10.3).
    this._awaitAttached = false;
    this.stdout = new OutputStream(this, "stdout", opts.onStdout, opts.encoding);
    this.stderr = new OutputStream(this, "stderr", opts.onStderr, opts.encoding);
    this._started = new Promise((resolve, reject) => {
      this._startResolve = resolve;
      this._startReject = reject;
    });
    this.exited = new Promise((resolve, reject) => {
      this._exitResolve = resolve;
      this._exitReject = reject;
    });
    // Only the start promise may go unhandled by design; exited is for the caller.
    this.exited.catch(() => {});
    const ws = conn.socket;
    ws.onmessage = (ev) => this._onMessage(ev.data);
    ws.onclose = (ev) => this._onClose(ev.code, ev.reason);
    ws.onerror = () => {};
  }

  get running() {
    return this.status === null && this._error === null;
  }

  /** Output bytes consumed so far (acknowledged to the server under flow control). */
  get bytesConsumed() {
    return this._consumedBytes;
  }

  /** Write to stdin (a string is sent as UTF-8); split to fit the message limit. */
  write(data) {
    if (this._stdinClosed) throw new WsepError("stdin is closed", { code: "invalid" });
    if (!this.running || this.readOnly) return; // an observer's input would end its connection
    const bytes = typeof data === "string" ? textEncoder.encode(data) : toBytes(data);
    const max = this.connection.maxMessageSize - STDIN_HEADER.length;
    for (let at = 0; at < bytes.length; at += max) {
      const chunk = bytes.subarray(at, Math.min(at + max, bytes.length));
      const msg = new Uint8Array(STDIN_HEADER.length + chunk.length);
      msg.set(STDIN_HEADER, 0);
      msg.set(chunk, STDIN_HEADER.length);
      this._sendRaw(msg);
    }
  }

  closeStdin() {
    if (this._stdinClosed) return;
    this._stdinClosed = true;
    if (this.running) this._send({ type: "close_stdin" });
  }

  resize(rows, cols) {
    for (const v of [rows, cols]) {
      if (!Number.isInteger(v) || v < 0 || v > 65535) {
        throw new WsepError(`invalid terminal size ${rows}x${cols}`, { code: "invalid" });
      }
    }
    if (this.running && !this.readOnly) this._send({ type: "resize", rows, cols });
  }

  /** Send a signal (v2 only): "SIGINT", "INT" or a number. */
  signal(sig) {
    if (this.version < 2) {
      throw new WsepError("signals need protocol v2, which the server did not select", {
        code: "unsupported",
      });
    }
    const name = typeof sig === "number" ? SIGNAL_NAMES[sig] : String(sig).toUpperCase();
    if (!name) throw new WsepError(`unknown signal ${sig}`, { code: "invalid" });
    if (this.running) this._send({ type: "signal", signal: name.startsWith("SIG") ? name : "SIG" + name });
  }

  /** Close the connection (the server ends a process that is still running). */
  close(code = 1000, reason = "") {
    this.connection.close(code, reason);
  }

  // --- internals ------------------------------------------------------------------------

  _send(header) {
    this._sendRaw(encodeMessage(header));
  }

  _sendRaw(bytes) {
    const ws = this.connection.socket;
    if (ws.readyState === 1) ws.send(bytes);
  }

  _enableFlow(window) {
    this.flowWindow = window;
    this._ackEvery = Math.max(1, Math.floor(window / 4));
    this._send({ type: "flow", window });
  }

  _consumed(n) {
    this._consumedBytes += n;
    if (
      this.flowWindow &&
      this.running &&
      this._consumedBytes - this._ackedBytes >= this._ackEvery
    ) {
      this._ackedBytes = this._consumedBytes;
      this._send({ type: "flow_ack", consumed: this._consumedBytes });
    }
  }

  _onMessage(data) {
    let msg;
    try {
      msg = decodeMessage(data);
    } catch (err) {
      this._fail(err);
      this.close(1002, "malformed message");
      return;
    }
    const { header, body } = msg;
    switch (header.type) {
      case "pid":
        this.pid = header.pid;
        // On v2 a session connection gets "attached" next: resolve with what it says.
        if (!this._awaitAttached) this._startResolve(this);
        break;
      case "attached":
        this.attached = {
          id: header.id,
          created: Boolean(header.created),
          readOnly: Boolean(header.read_only),
        };
        this._startResolve(this);
        break;
      case "stdout":
      case "stderr":
        this.bytesReceived += body.length;
        this[header.type]._push(body);
        break;
      case "exit_code":
        this._exit({
          exitCode: header.exit_code,
          error: header.error ?? "",
          signal: header.signal ?? null,
          coreDumped: header.core_dumped ?? null,
        });
        break;
      case "error":
        this._error = new WsepError(header.message || header.code, {
          code: header.code || "error",
          closeCode: header.close_code ?? null,
        });
        break;
      default:
        break; // unknown types are ignored: that is what makes extensions safe
    }
  }

  _exit(status) {
    if (this.status !== null) return;
    this.stdout._end();
    this.stderr._end();
    this.status = status;
    // A start that failed before pid (a v1 peer may do that) still resolves.
    this._startResolve(this);
    this._exitResolve(status);
    this.close(1000);
  }

  _fail(err) {
    if (this.status !== null) return;
    if (!this._error) this._error = err;
    this.stdout._end();
    this.stderr._end();
    this._startReject(this._error);
    this._exitReject(this._error);
  }

  _onClose(code, reason) {
    if (this.status !== null) return;
    const detail = `connection closed (${code}${reason ? ": " + reason : ""}) before the exit status`;
    if (this._error) {
      if (this._error.closeCode === null) this._error.closeCode = code;
    } else this._error = new WsepError(detail, { code: "connection_closed", closeCode: code });
    this._fail(this._error);
  }
}

function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new WsepError("stdin data must be a string, ArrayBuffer or typed array", { code: "invalid" });
}

const SIGNAL_NAMES = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  6: "SIGABRT",
  9: "SIGKILL",
  10: "SIGUSR1",
  12: "SIGUSR2",
  15: "SIGTERM",
  18: "SIGCONT",
  19: "SIGSTOP",
  20: "SIGTSTP",
  28: "SIGWINCH",
};
