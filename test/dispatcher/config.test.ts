/**
 * The dispatcher's configuration at start (dispatcher/src/config.ts): the chart's rendered
 * section loads; a value the schema refuses names its file, line and key (the shared validator);
 * what one key alone cannot say wrong is named too.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError, loadDispatcherConfig } from '../../dispatcher/src/config.ts';
import { REPO_ROOT } from '../helpers/helm.ts';
import { dispatcherValues } from '../helpers/dispatcher/dispatcher-under-test.ts';

const config = suite('dispatcher: configuration at start');
const SCHEMA = join(REPO_ROOT, 'chart/supersonic/values.schema.json');

function load(text: string): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'dispatcher-config-'));
  try {
    writeFileSync(join(dir, 'dispatcher.yaml'), text);
    loadDispatcherConfig(dir, SCHEMA);
    return undefined;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.message;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

config('the chart\'s defaults load', () => {
  assert.is(load(stringify(dispatcherValues())), undefined);
});

config('a refused value names the file, line, column and key', () => {
  const message = load(stringify(dispatcherValues({ defaultFamily: 'ollama' }))) ?? '';
  assert.match(message, /dispatcher\.yaml:\d+:\d+: dispatcher\.defaultFamily: "ollama" is not allowed: use one of "tgi", "vllm", "triton"/);
});

config('a family\'s autoscaling that contradicts the defaults it falls back on is named with both', () => {
  const message = load(stringify(dispatcherValues({ families: { triton: { autoscaling: { minScale: 3 } } } }))) ?? '';
  assert.match(message, /dispatcher\.families\.triton\.autoscaling over dispatcher\.autoscaling: minScale \(3\) is above maxScale \(1\)/);
  assert.match(load(stringify(dispatcherValues({ env: { allowed: ['HF_TOKEN'] } }))) ?? '', /HF_TOKEN is both allowed \(plain\) and secret/);
});

config.run();
