/**
 * The real yaml-language-server (the server behind Red Hat's VS Code YAML extension and
 * Neovim's yamlls), started over stdio as an editor starts it, speaking LSP: open a document,
 * collect the diagnostics it publishes. What an editor shows is exactly these.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './helm.ts';

const SERVER = join(REPO_ROOT, 'node_modules/yaml-language-server/bin/yaml-language-server');

export interface Diagnostic {
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  severity?: number;
  message: string;
  source?: string;
}

export interface YamlLanguageServer {
  /** Opens a document (as an editor does for a file) and resolves with the first diagnostics published for it. */
  diagnostics(path: string, text: string): Promise<Diagnostic[]>;
  stop(): Promise<void>;
}

/** Starts the server with the settings an editor sends: validation on, schemas from the file's `$schema` modeline. */
export async function startYamlLanguageServer(rootDir: string): Promise<YamlLanguageServer> {
  const child: ChildProcess = spawn(process.execPath, [SERVER, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let buffer = Buffer.alloc(0);
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  const published = new Map<string, (diagnostics: Diagnostic[]) => void>();
  let stderr = '';
  child.stderr!.on('data', (chunk) => { stderr += chunk; });

  const send = (message: Record<string, unknown>) => {
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...message }));
    child.stdin!.write(`Content-Length: ${body.length}\r\n\r\n`);
    child.stdin!.write(body);
  };
  const request = (method: string, params: unknown) => new Promise<unknown>((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    send({ id, method, params });
  });

  child.stdout!.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const headerEnd = buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const length = Number(/Content-Length: (\d+)/i.exec(buffer.subarray(0, headerEnd).toString())?.[1]);
      if (buffer.length < headerEnd + 4 + length) return;
      const message = JSON.parse(buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString());
      buffer = buffer.subarray(headerEnd + 4 + length);
      if (message.id !== undefined && message.method === undefined) {
        pending.get(message.id)?.(message.result);
        pending.delete(message.id);
      } else if (message.id !== undefined && message.method) {
        // Server-to-client requests: the configuration it asks for, else an empty answer.
        const result = message.method === 'workspace/configuration'
          ? (message.params.items as unknown[]).map(() => SETTINGS.yaml)
          : null;
        send({ id: message.id, result });
      } else if (message.method === 'textDocument/publishDiagnostics') {
        published.get(message.params.uri)?.(message.params.diagnostics);
      }
    }
  });

  const rootUri = pathToFileURL(rootDir).href;
  await withTimeout(request('initialize', {
    processId: process.pid,
    rootUri,
    workspaceFolders: [{ uri: rootUri, name: 'values' }],
    capabilities: { workspace: { configuration: true }, textDocument: { publishDiagnostics: {} } },
  }), 20_000, () => `yaml-language-server did not answer initialize: ${stderr}`);
  send({ method: 'initialized', params: {} });
  send({ method: 'workspace/didChangeConfiguration', params: { settings: SETTINGS } });

  return {
    diagnostics(path, text) {
      const uri = pathToFileURL(path).href;
      const result = new Promise<Diagnostic[]>((resolve) => published.set(uri, resolve));
      send({ method: 'textDocument/didOpen', params: { textDocument: { uri, languageId: 'yaml', version: 1, text } } });
      return withTimeout(result, 20_000, () => `no diagnostics for ${path} within 20 s: ${stderr}`);
    },
    async stop() {
      await withTimeout(request('shutdown', null), 5_000, () => 'yaml-language-server did not shut down').catch(() => undefined);
      send({ method: 'exit' });
      child.kill();
    },
  };
}

/** What an editor with the YAML extension sends: validation on, no schema store (air-gapped), schemas from modelines. */
const SETTINGS = { yaml: { validate: true, completion: true, hover: true, schemaStore: { enable: false }, schemas: {} } };

function withTimeout<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(message())), ms); }),
  ]);
}
