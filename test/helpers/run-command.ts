/**
 * Runs a command without blocking the event loop (servers in this process, such as a chart
 * repository or the tests' webhooks, keep answering while it runs).
 */
import { execFile } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCommand(command: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { maxBuffer: 64 * 1024 * 1024, env: options.env ?? process.env }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr: stderr || (err && typeof err.code !== 'number' ? String(err) : '') });
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}
