// The web pages' human messages: every failure maps to a few words, never to the
// server's or the browser's raw error text.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  describeCheck,
  describeError,
  worthRetrying,
} from "../../packages/wsep-server/src/wsep_server/web/static/messages.js";
import { WsepError } from "../../packages/wsep-server/src/wsep_server/web/static/wsep.js";

test("preflight answers", () => {
  assert.equal(describeCheck({ ok: true, status: 200 }, false), "");
  assert.equal(describeCheck({ status: 0, reason: "" }, false), "server unreachable");
  assert.equal(describeCheck({ status: 401, reason: "invalid token" }, true), "token refused");
  assert.equal(describeCheck({ status: 401, reason: "" }, false), "this server needs a token");
  const origin = { status: 403, reason: "origin not allowed: http://x" };
  assert.equal(describeCheck(origin, false), "origin not allowed");
  assert.equal(describeCheck({ status: 403, reason: "host not allowed: x" }, false), "host name not allowed");
  assert.equal(describeCheck({ status: 403, reason: "whatever" }, false), "access denied");
  assert.ok(worthRetrying({ status: 0 }) && worthRetrying({ status: 503 }));
  assert.ok(!worthRetrying({ status: 401 }) && !worthRetrying({ status: 403 }));
});

test("errors never show their raw text", () => {
  const raw = "[Errno 13] Permission denied: '/x' (OSError in execve)";
  for (const code of ["start_failed", "protocol_violation", "policy_violation", "weird_new_code"]) {
    const text = describeError(new WsepError(raw, { code }), "cmd");
    assert.ok(!text.includes("Errno") && !text.includes("OSError"), `${code}: ${text}`);
  }
  assert.equal(describeError(new WsepError(raw, { code: "command_not_found" }), "vim"), "command not found: vim");
  const shutdown = new WsepError(raw, { code: "server_shutdown", closeCode: 1001 });
  assert.equal(describeError(shutdown), "the server is shutting down");
  const lost = new WsepError(raw, { code: "connection_closed", closeCode: 1006 });
  assert.equal(describeError(lost), "the connection was lost");
  assert.equal(describeError(new TypeError("x is undefined")), "something went wrong (see the server log)");
});
