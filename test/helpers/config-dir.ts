/**
 * A server's ConfigMap folder for a test: the files written into a fresh folder, the server's
 * loader run on it, and the ConfigError's message returned (undefined when it loads). Any other
 * error is a bug and is thrown. The folder is removed either way.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '#core/config/load-section.ts';

export function configError(files: Record<string, string>, load: (dir: string) => unknown): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    load(dir);
    return undefined;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.message;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
