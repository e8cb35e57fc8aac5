/**
 * The dispatcher's configuration at start (dispatcher/src/config.ts): the chart's rendered
 * section loads; a value the schema refuses names its file, line and key (the shared validator);
 * what one key alone cannot say wrong is named too.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadDispatcherConfig } from '../../dispatcher/src/config.ts';
import { configError } from '../helpers/config-dir.ts';
import { REPO_ROOT } from '../helpers/helm.ts';
import { dispatcherValues } from '../helpers/dispatcher/dispatcher-under-test.ts';

const config = suite('dispatcher: configuration at start');
const SCHEMA = join(REPO_ROOT, 'chart/supersonic/values.schema.json');

function load(text: string): string | undefined {
  return configError({ 'dispatcher.yaml': text }, (dir) => loadDispatcherConfig(dir, SCHEMA));
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
