// The official TypeScript SDK client through a load balancer: a whole session.
//
//   node ts_cluster_client.mjs http://127.0.0.1:PORT/mcp
//
// initialize -> countdown (progress, resumption tokens) -> ask_name
// (elicitation) -> resume (a second SDK transport on the same session replays
// the countdown's stream after its second event: GET + Last-Event-ID) ->
// terminateSession (DELETE) -> one more POST, which must get 404. Prints one
// JSON summary line; exits non-zero if a step threw (the summary has `error`).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema, ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const url = process.argv[2];
if (!url) {
  console.error("usage: node ts_cluster_client.mjs URL");
  process.exit(2);
}

const summary = { url, steps: [] };
const client = new Client(
  { name: "streamcore-cluster", version: "0.0.0" },
  { capabilities: { elicitation: { form: {} } } },
);
client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { name: "Ada" } }));
const transport = new StreamableHTTPClientTransport(new URL(url));

try {
  await client.connect(transport);
  const sessionId = transport.sessionId;
  summary.sessionId = sessionId ?? null;
  summary.steps.push("initialize");

  const progress = [];
  const tokens = [];
  const countdown = await client.callTool(
    { name: "countdown", arguments: { n: 5, delay: 0.02 } },
    CallToolResultSchema,
    {
      onprogress: (p) => progress.push({ progress: p.progress, total: p.total ?? null }),
      onresumptiontoken: (t) => tokens.push(t),
    },
  );
  summary.progress = progress;
  summary.tokens = tokens;
  summary.countdown = countdown.content?.[0]?.text ?? null;
  summary.steps.push("countdown");

  const greeted = await client.callTool({ name: "ask_name", arguments: {} });
  summary.greeting = greeted.content?.[0]?.text ?? null;
  summary.steps.push("ask_name");

  // Resume: tokens[0] is the priming event, tokens[1] the first progress, so
  // after tokens[2] come progress 3, 4, 5 and the result.
  const replayed = [];
  const resumer = new StreamableHTTPClientTransport(new URL(url), { sessionId });
  resumer.setProtocolVersion(transport.protocolVersion);
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("resumed stream: no result within 10 s")), 10000);
    resumer.onmessage = (m) => {
      if (m.method === "notifications/progress") replayed.push(m.params.progress);
      else if (m.result !== undefined) {
        replayed.push(m.result.content?.[0]?.text ?? null);
        clearTimeout(timer);
        resolve();
      }
    };
    resumer.onerror = (e) => { clearTimeout(timer); reject(e); };
  });
  await resumer.start();
  await resumer.send({ jsonrpc: "2.0", id: 9001, method: "tools/call",
                       params: { name: "countdown", arguments: { n: 5, delay: 0.02 } } },
                     { resumptionToken: tokens[2] });
  await done;
  summary.replayed = replayed;
  summary.steps.push("resume");

  await transport.terminateSession();
  summary.steps.push("terminateSession");
  const after = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream",
               "mcp-session-id": sessionId, "mcp-protocol-version": transport.protocolVersion ?? "2025-11-25" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 5, method: "ping" }),
  });
  summary.afterDelete = after.status;
  await client.close();
} catch (err) {
  summary.error = String(err?.stack ?? err);
  process.exitCode = 1;
}
process.stdout.write(JSON.stringify(summary) + "\n");
