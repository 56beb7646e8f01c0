// A stateful Streamable HTTP MCP server built on the official TypeScript SDK,
// with an `echo` tool of the same shape as streamcore's demo server.
//
//   node ts_server.mjs PORT [--json]
//
// Listens on 127.0.0.1:PORT (0 picks a free port) at /mcp and prints
// "ts-sdk MCP server on http://127.0.0.1:PORT/mcp" as its first stdout line.
// --json answers POSTs with application/json instead of an SSE stream.
import { randomUUID } from "node:crypto";
import http from "node:http";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  isInitializeRequest,
} from "@modelcontextprotocol/sdk/types.js";

const port = Number(process.argv[2] ?? 0);
const jsonResponse = process.argv.includes("--json");

const TOOLS = [
  {
    name: "echo",
    description: "Return the text you send.",
    inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
  },
];

function makeServer() {
  const server = new Server({ name: "ts-sdk-echo", version: "0.0.0" }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    if (req.params.name !== "echo") {
      return { content: [{ type: "text", text: `Unknown tool: ${req.params.name}` }], isError: true };
    }
    return { content: [{ type: "text", text: String(req.params.arguments?.text ?? "") }], isError: false };
  });
  return server;
}

// one transport (and one Server) per session, as the SDK's examples do
const transports = new Map();

async function readJson(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const raw = Buffer.concat(chunks).toString("utf8");
  return raw ? JSON.parse(raw) : undefined;
}

const httpServer = http.createServer(async (req, res) => {
  try {
    const path = new URL(req.url, "http://localhost").pathname;
    if (path !== "/mcp") {
      res.writeHead(404).end();
      return;
    }
    const sid = req.headers["mcp-session-id"];
    let body;
    if (req.method === "POST") {
      try {
        body = await readJson(req);
      } catch {
        res.writeHead(400, { "content-type": "application/json" }).end(
          JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } }),
        );
        return;
      }
    }
    let transport = sid ? transports.get(sid) : undefined;
    if (!transport) {
      if (sid || req.method !== "POST" || !isInitializeRequest(body)) {
        res.writeHead(sid ? 404 : 400, { "content-type": "application/json" }).end(
          JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32000, message: sid ? "Session not found" : "Bad Request: no session" } }),
        );
        return;
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: jsonResponse,
        onsessioninitialized: (id) => transports.set(id, transport),
      });
      transport.onclose = () => {
        if (transport.sessionId) transports.delete(transport.sessionId);
      };
      await makeServer().connect(transport);
    }
    await transport.handleRequest(req, res, body);
  } catch (err) {
    if (!res.headersSent) res.writeHead(500).end(String(err));
  }
});

httpServer.keepAliveTimeout = 60_000;
httpServer.listen(port, "127.0.0.1", () => {
  const { port: p } = httpServer.address();
  process.stdout.write(`ts-sdk MCP server on http://127.0.0.1:${p}/mcp\n`);
});
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    httpServer.close();
    httpServer.closeAllConnections?.();
    process.exit(0);
  });
}
