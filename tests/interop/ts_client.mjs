// Drive a Streamable HTTP MCP server with the official TypeScript SDK client.
//
//   node ts_client.mjs http://127.0.0.1:PORT/mcp
//
// initialize -> tools/list -> countdown (progress) -> ask_name (elicitation)
// -> terminateSession (DELETE); prints one JSON summary line on stdout and
// exits non-zero if any step threw (the summary then carries `error`).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { trackLateProgress } from "./late_progress.mjs";

const url = process.argv[2];
if (!url) {
  console.error("usage: node ts_client.mjs URL");
  process.exit(2);
}

const summary = { url, steps: [] };
const client = new Client(
  { name: "streamcore-interop", version: "0.0.0" },
  { capabilities: { elicitation: { form: {} } } },
);
const elicitations = [];
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  elicitations.push(request.params.message);
  return { action: "accept", content: { name: "Ada" } };
});
const transport = new StreamableHTTPClientTransport(new URL(url));

try {
  // initialize
  await client.connect(transport);
  summary.sessionId = transport.sessionId ?? null;
  summary.protocolVersion = transport.protocolVersion ?? null;
  summary.serverInfo = client.getServerVersion() ?? null;
  summary.steps.push("initialize");

  // tools/list
  const listed = await client.listTools();
  summary.tools = listed.tools.map((t) => t.name);
  summary.steps.push("tools/list");

  const late = trackLateProgress(client);
  // countdown, with a progress callback
  const progress = [];
  const countdown = await client.callTool(
    { name: "countdown", arguments: { n: 3, delay: 0.01 } },
    undefined,
    { onprogress: (p) => progress.push({ progress: p.progress, total: p.total ?? null, message: p.message ?? null }) },
  );
  summary.progress = progress;
  summary.lateProgress = late;
  summary.countdown = countdown.content?.[0]?.text ?? null;
  summary.steps.push("countdown");

  // ask_name, answering the elicitation request
  const greeted = await client.callTool({ name: "ask_name", arguments: {} });
  summary.elicitations = elicitations;
  summary.greeting = greeted.content?.[0]?.text ?? null;
  summary.steps.push("ask_name");

  // DELETE the session
  await transport.terminateSession();
  summary.terminated = transport.sessionId === undefined;
  summary.steps.push("terminateSession");
  await client.close();
} catch (err) {
  summary.error = String(err?.stack ?? err);
  process.exitCode = 1;
}
process.stdout.write(JSON.stringify(summary) + "\n");
