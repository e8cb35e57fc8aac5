/**
 * Proves that test/helpers/k8s/manifests.ts catches each class of problem it
 * claims to catch, at the right path, with a message that says what is wrong.
 * Each failure test starts from a fully valid set of objects and breaks one thing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ALLOWED_API_VERSIONS,
  parseManifests,
  validateManifests,
  type ManifestProblem,
  type ValidateOptions,
} from '../helpers/k8s/manifests.ts';

// Shaped like `helm template` output: "---" separators, "# Source:" comments,
// and numeric quantities (cpu: 0.5, memory: 1.6e+10) as values files produce them.
const VALID_RELEASE_YAML = `---
# Source: supersonic/templates/triton/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo-supersonic-triton
  labels:
    app.kubernetes.io/name: supersonic
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: supersonic
  template:
    metadata:
      labels:
        app.kubernetes.io/name: supersonic
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: triton
          image: nvcr.io/nvidia/tritonserver:24.08-py3
          imagePullPolicy: IfNotPresent
          ports:
            - name: http
              containerPort: 8000
          readinessProbe:
            httpGet:
              path: /v2/health/ready
              port: http
          resources:
            requests:
              cpu: 0.5
              memory: 1.6e+10
            limits:
              memory: 16Gi
              nvidia.com/gpu: 1
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: models
              mountPath: /models
            - name: scratch
              mountPath: /tmp
      volumes:
        - name: models
          persistentVolumeClaim:
            claimName: demo-supersonic-models
        - name: scratch
          emptyDir: {}
---
# Source: supersonic/templates/triton/service-headless.yaml
apiVersion: v1
kind: Service
metadata:
  name: demo-supersonic-triton-headless
spec:
  clusterIP: None
  selector:
    app.kubernetes.io/name: supersonic
  ports:
    - name: grpc
      port: 8001
      targetPort: 8001
---
# Source: supersonic/templates/storage/pvc.yaml
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: demo-supersonic-models
spec:
  accessModes: ["ReadWriteOnce"]
  resources:
    requests:
      storage: 10Gi
`;

const TEMPLATE_SPEC = '/spec/template/spec';
const CONTAINER_0 = `${TEMPLATE_SPEC}/containers/0`;

/** Fresh objects on every call, so tests can mutate them freely. */
function validRelease(): Record<string, unknown>[] {
  return parseManifests(VALID_RELEASE_YAML);
}

function validDeployment(): Record<string, unknown> {
  const deployment = validRelease()[0];
  if (!deployment) throw new Error('fixture has no Deployment');
  return deployment;
}

const REMOVE = Symbol('remove');

/**
 * Applies edits addressed by JSON pointer ("/spec/replicas": 2, or REMOVE to
 * delete the field). Intermediate objects are created as needed.
 */
function edit<T extends Record<string, unknown>>(object: T, changes: Record<string, unknown>): T {
  for (const [pointer, value] of Object.entries(changes)) {
    const keys = pointer.split('/').slice(1).map((key) => key.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop();
    if (last === undefined) throw new Error(`bad pointer ${pointer}`);
    let node = object as Record<string, unknown>;
    for (const key of keys) {
      node[key] ??= {};
      node = node[key] as Record<string, unknown>;
    }
    if (value === REMOVE) delete node[last];
    else node[last] = value;
  }
  return object;
}

function valueAt(object: unknown, pointer: string): unknown {
  return pointer
    .split('/')
    .slice(1)
    .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], object);
}

async function problemsFor(object: Record<string, unknown>, opts?: ValidateOptions): Promise<ManifestProblem[]> {
  return validateManifests([object], opts);
}

function format(problems: ManifestProblem[]): string {
  return problems.map((p) => `  ${p.object} ${p.path}: ${p.message}`).join('\n') || '  (none)';
}

/** Asserts the exact set of problem paths, then that each expected message fragment is there. */
function assertProblems(problems: ManifestProblem[], expected: Array<[path: string, messageFragment: string]>): void {
  assert.equal(
    problems.map((p) => p.path).sort(),
    expected.map(([path]) => path).sort(),
    `unexpected problem paths:\n${format(problems)}`,
  );
  for (const [path, fragment] of expected) {
    const match = problems.find((p) => p.path === path && p.message.includes(fragment));
    assert.ok(match, `expected a problem at ${path} mentioning ${JSON.stringify(fragment)}, got:\n${format(problems)}`);
  }
}

// --- the valid baseline -----------------------------------------------------

test('a restricted Deployment, headless Service and PVC are valid', async () => {
  const objects = validRelease();
  assert.equal(objects.map((o) => o.kind), ['Deployment', 'Service', 'PersistentVolumeClaim']);
  assertProblems(await validateManifests(objects), []);
});

test('numeric quantities from YAML (cpu: 0.5, memory: 1.6e+10) are accepted', async () => {
  const deployment = validDeployment();
  // YAML turns 1.6e+10 into the number 16000000000; the schema accepts a number or a quantity string.
  assert.equal(valueAt(deployment, `${CONTAINER_0}/resources/requests`), { cpu: 0.5, memory: 16000000000 });
  assertProblems(await problemsFor(deployment), []);
  // The quantity strings "0.5" and "1.6e+10" are accepted as well.
  const asStrings = edit(validDeployment(), { [`${CONTAINER_0}/resources/requests`]: { cpu: '0.5', memory: '1.6e+10' } });
  assertProblems(await problemsFor(asStrings), []);
});

test('an invalid quantity string is a schema error at the quantity path', async () => {
  const deployment = edit(validDeployment(), { [`${CONTAINER_0}/resources/limits/memory`]: '16 gigs' });
  const problems = await problemsFor(deployment);
  assertProblems(problems, [[`${CONTAINER_0}/resources/limits/memory`, 'must match format "quantity"']]);
  // ajv's three errors for this oneOf collapse into one message without the generic "oneOf" line.
  assert.is(problems[0]?.message, 'schema: must be number; must match format "quantity"');
});

// --- check 1: apiVersion allow-list and names ---------------------------------

test('a removed API (extensions/v1beta1 Ingress) is rejected with the replacement named', async () => {
  const ingress = {
    apiVersion: 'extensions/v1beta1',
    kind: 'Ingress',
    metadata: { name: 'demo-supersonic' },
    spec: { backend: { serviceName: 'demo', servicePort: 80 } },
  };
  const problems = await problemsFor(ingress);
  assertProblems(problems, [['/apiVersion', 'apiVersion/kind not in the allow-list']]);
  assert.ok(problems[0]?.message.includes('networking.k8s.io/v1'), format(problems));
  assert.is(problems[0]?.object, 'extensions/v1beta1 Ingress demo-supersonic');
});

test('autoscaling/v2beta2 HorizontalPodAutoscaler is rejected, autoscaling/v2 is allowed', async () => {
  const hpa = {
    apiVersion: 'autoscaling/v2beta2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'demo' },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'demo' }, maxReplicas: 3 },
  };
  assertProblems(await problemsFor(hpa), [['/apiVersion', 'use autoscaling/v2 instead']]);
  assertProblems(await problemsFor({ ...hpa, apiVersion: 'autoscaling/v2' }), []);
  assert.ok(ALLOWED_API_VERSIONS.has('autoscaling/v2/HorizontalPodAutoscaler'));
  assert.not.ok(ALLOWED_API_VERSIONS.has('policy/v1beta1/PodDisruptionBudget'));
});

test('metadata.name must exist and follow the naming rule of the kind', async () => {
  const [, service] = validRelease();
  assertProblems(await problemsFor(edit(validDeployment(), { '/metadata/name': REMOVE })), [
    ['/metadata/name', 'metadata.name is missing'],
  ]);
  assertProblems(await problemsFor(edit(validDeployment(), { '/metadata/name': 'Triton_Server' })), [
    ['/metadata/name', 'DNS-1123 subdomain'],
  ]);
  // 64 characters is a fine Deployment name but too long for a Service (a DNS label).
  const longName = `a${'b'.repeat(63)}`;
  assertProblems(await problemsFor(edit(validDeployment(), { '/metadata/name': longName })), []);
  assertProblems(await problemsFor(edit(service!, { '/metadata/name': longName })), [
    ['/metadata/name', 'DNS-1035 label'],
  ]);
  // RBAC names are path segments: "system:" prefixes are legal.
  const clusterRole = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'supersonic:webhook' }, rules: [] };
  assertProblems(await problemsFor(clusterRole), []);
});

// --- check 2: schema -------------------------------------------------------

test('schema errors: replicas "two" and a missing selector', async () => {
  const deployment = edit(validDeployment(), { '/spec/replicas': 'two', '/spec/selector': REMOVE });
  assertProblems(await problemsFor(deployment), [
    ['/spec/replicas', 'schema: must be integer'],
    ['/spec/selector', 'schema: required field is missing'],
  ]);
});

// --- check 3: unknown fields -------------------------------------------------

test('unknown fields are reported with the type they are not part of', async () => {
  const deployment = edit(validDeployment(), {
    '/spec/replica': 3,
    [`${CONTAINER_0}/imagePullPolcy`]: 'Always',
    '/metadata/lables': { team: 'ml' },
  });
  assertProblems(await problemsFor(deployment), [
    ['/spec/replica', 'unknown field (not in V1DeploymentSpec)'],
    [`${CONTAINER_0}/imagePullPolcy`, 'unknown field (not in V1Container)'],
    ['/metadata/lables', 'unknown field (not in V1ObjectMeta)'],
  ]);
  const problems = await problemsFor(deployment);
  assert.ok(problems.some((p) => p.message.includes('did you mean "imagePullPolicy"')), format(problems));
});

test('unknown fields are found inside maps and lists (ConfigMap data stays free-form)', async () => {
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', annotations: { 'a/b': 'x' } }, data: { anyKey: 'value' } };
  assertProblems(await problemsFor(configMap), []);
  const [, service] = validRelease();
  assertProblems(await problemsFor(edit(service!, { '/spec/ports/0/protcol': 'TCP' })), [
    ['/spec/ports/0/protcol', 'unknown field (not in V1ServicePort)'],
  ]);
});

// --- check 4: restricted Pod Security Standard ---------------------------------

test('PSS: missing runAsNonRoot', async () => {
  const deployment = edit(validDeployment(), { [`${TEMPLATE_SPEC}/securityContext/runAsNonRoot`]: REMOVE });
  assertProblems(await problemsFor(deployment), [
    [`${CONTAINER_0}/securityContext/runAsNonRoot`, 'restricted PSS: runAsNonRoot must be true'],
  ]);
});

test('PSS: allowPrivilegeEscalation true (and unset) on a container', async () => {
  const path = `${CONTAINER_0}/securityContext/allowPrivilegeEscalation`;
  assertProblems(await problemsFor(edit(validDeployment(), { [path]: true })), [
    [path, 'restricted PSS: container containers[0] "triton" must set securityContext.allowPrivilegeEscalation to false (found true)'],
  ]);
  assertProblems(await problemsFor(edit(validDeployment(), { [path]: REMOVE })), [[path, '(found unset)']]);
});

test('PSS: capabilities must drop ALL and add nothing but NET_BIND_SERVICE', async () => {
  const capabilities = `${CONTAINER_0}/securityContext/capabilities`;
  const deployment = edit(validDeployment(), {
    [`${capabilities}/drop`]: ['NET_RAW'],
    [`${capabilities}/add`]: ['NET_BIND_SERVICE', 'SYS_ADMIN'],
  });
  assertProblems(await problemsFor(deployment), [
    [`${capabilities}/drop`, 'restricted PSS: container containers[0] "triton" must drop ALL capabilities'],
    [`${capabilities}/add/1`, 'may only add NET_BIND_SERVICE, found "SYS_ADMIN"'],
  ]);
});

test('PSS: hostPath volume is forbidden unless allowHostPath is passed', async () => {
  const deployment = edit(validDeployment(), {
    [`${TEMPLATE_SPEC}/volumes/2`]: { name: 'shm', hostPath: { path: '/dev/shm' } },
  });
  assertProblems(await problemsFor(deployment), [
    [`${TEMPLATE_SPEC}/volumes/2/hostPath`, 'restricted PSS: volume "shm" uses forbidden type hostPath'],
  ]);
  assertProblems(await problemsFor(deployment, { allowHostPath: true }), []);
});

test('PSS: nfs volume is forbidden unless allowNfs is passed', async () => {
  const deployment = edit(validDeployment(), {
    [`${TEMPLATE_SPEC}/volumes/2`]: { name: 'repo', nfs: { server: 'nfs.example.org', path: '/models' } },
  });
  assertProblems(await problemsFor(deployment), [[`${TEMPLATE_SPEC}/volumes/2/nfs`, 'forbidden type nfs']]);
  assertProblems(await problemsFor(deployment, { allowNfs: true }), []);
  // allowHostPath does not open the door to nfs.
  assertProblems(await problemsFor(deployment, { allowHostPath: true }), [[`${TEMPLATE_SPEC}/volumes/2/nfs`, 'forbidden type nfs']]);
});

test('PSS: seccomp Unconfined at pod level', async () => {
  const deployment = edit(validDeployment(), { [`${TEMPLATE_SPEC}/securityContext/seccompProfile/type`]: 'Unconfined' });
  assertProblems(await problemsFor(deployment), [
    [`${TEMPLATE_SPEC}/securityContext/seccompProfile/type`, 'restricted PSS: pod seccompProfile.type must be RuntimeDefault or Localhost, found "Unconfined"'],
    // The container sets no profile of its own, so it inherits the bad one.
    [`${CONTAINER_0}/securityContext/seccompProfile/type`, 'pod: "Unconfined"'],
  ]);
});

test('PSS: seccomp may be set per container instead of on the pod, but never Unconfined', async () => {
  const perContainer = edit(validDeployment(), {
    [`${TEMPLATE_SPEC}/securityContext/seccompProfile`]: REMOVE,
    [`${CONTAINER_0}/securityContext/seccompProfile`]: { type: 'RuntimeDefault' },
  });
  assertProblems(await problemsFor(perContainer), []);
  const unconfined = edit(validDeployment(), { [`${CONTAINER_0}/securityContext/seccompProfile`]: { type: 'Unconfined' } });
  assertProblems(await problemsFor(unconfined), [
    [`${CONTAINER_0}/securityContext/seccompProfile/type`, 'found "Unconfined"'],
  ]);
});

test('PSS: hostNetwork', async () => {
  const deployment = edit(validDeployment(), { [`${TEMPLATE_SPEC}/hostNetwork`]: true });
  assertProblems(await problemsFor(deployment), [
    [`${TEMPLATE_SPEC}/hostNetwork`, 'restricted PSS: hostNetwork must be unset or false'],
  ]);
});

const OTHER_PSS_VIOLATIONS: Array<[name: string, changes: Record<string, unknown>, path: string, fragment: string]> = [
  ['hostPID', { [`${TEMPLATE_SPEC}/hostPID`]: true }, `${TEMPLATE_SPEC}/hostPID`, 'hostPID must be unset or false'],
  ['hostIPC', { [`${TEMPLATE_SPEC}/hostIPC`]: true }, `${TEMPLATE_SPEC}/hostIPC`, 'hostIPC must be unset or false'],
  ['privileged', { [`${CONTAINER_0}/securityContext/privileged`]: true }, `${CONTAINER_0}/securityContext/privileged`, 'must not be privileged'],
  ['hostPort', { [`${CONTAINER_0}/ports/0/hostPort`]: 8000 }, `${CONTAINER_0}/ports/0/hostPort`, 'must not use hostPort'],
  ['pod runAsUser 0', { [`${TEMPLATE_SPEC}/securityContext/runAsUser`]: 0 }, `${TEMPLATE_SPEC}/securityContext/runAsUser`, 'must not be 0'],
  ['container runAsUser 0', { [`${CONTAINER_0}/securityContext/runAsUser`]: 0 }, `${CONTAINER_0}/securityContext/runAsUser`, 'must not be 0'],
  ['container runAsNonRoot false', { [`${CONTAINER_0}/securityContext/runAsNonRoot`]: false }, `${CONTAINER_0}/securityContext/runAsNonRoot`, 'sets runAsNonRoot to false'],
  ['procMount Unmasked', { [`${CONTAINER_0}/securityContext/procMount`]: 'Unmasked' }, `${CONTAINER_0}/securityContext/procMount`, 'procMount must be unset or Default'],
  ['unsafe sysctl', { [`${TEMPLATE_SPEC}/securityContext/sysctls`]: [{ name: 'net.ipv4.tcp_syncookies', value: '1' }, { name: 'kernel.msgmax', value: '65536' }] }, `${TEMPLATE_SPEC}/securityContext/sysctls/1/name`, 'sysctl "kernel.msgmax" is not in the safe set'],
  ['AppArmor Unconfined', { [`${CONTAINER_0}/securityContext/appArmorProfile`]: { type: 'Unconfined' } }, `${CONTAINER_0}/securityContext/appArmorProfile/type`, 'appArmorProfile.type must be RuntimeDefault or Localhost'],
  ['AppArmor annotation unconfined', { '/spec/template/metadata/annotations': { 'container.apparmor.security.beta.kubernetes.io/triton': 'unconfined' } }, '/spec/template/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1triton', 'AppArmor annotation'],
  ['SELinux type', { [`${TEMPLATE_SPEC}/securityContext/seLinuxOptions`]: { type: 'spc_t' } }, `${TEMPLATE_SPEC}/securityContext/seLinuxOptions/type`, 'found "spc_t"'],
  ['SELinux user', { [`${CONTAINER_0}/securityContext/seLinuxOptions`]: { user: 'system_u' } }, `${CONTAINER_0}/securityContext/seLinuxOptions/user`, 'seLinuxOptions.user must not be set'],
  ['probe host', { [`${CONTAINER_0}/readinessProbe/httpGet/host`]: '10.0.0.1' }, `${CONTAINER_0}/readinessProbe/httpGet/host`, 'readinessProbe.httpGet.host must be unset'],
];

for (const [name, changes, path, fragment] of OTHER_PSS_VIOLATIONS) {
  test(`PSS: ${name}`, async () => {
    const problems = await problemsFor(edit(validDeployment(), changes));
    assertProblems(problems, [[path, fragment]]);
    assert.ok(problems[0]?.message.startsWith('restricted PSS:'), format(problems));
  });
}

test('PSS: init containers are checked like regular containers', async () => {
  const deployment = edit(validDeployment(), {
    [`${TEMPLATE_SPEC}/initContainers`]: [{ name: 'fetch-models', image: 'busybox:1.36' }],
  });
  const init = `${TEMPLATE_SPEC}/initContainers/0`;
  assertProblems(await problemsFor(deployment), [
    [`${init}/securityContext/allowPrivilegeEscalation`, 'initContainers[0] "fetch-models"'],
    [`${init}/securityContext/capabilities/drop`, 'must drop ALL capabilities'],
  ]);
});

test('PSS: bare Pods and Jobs are checked too; Services are not', async () => {
  const podSpec = { containers: [{ name: 'test', image: 'curlimages/curl:8.8.0' }] };
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'demo-test' }, spec: podSpec };
  const job = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'demo-job' }, spec: { template: { spec: { ...podSpec, restartPolicy: 'Never' } } } };
  const podPaths = (await problemsFor(pod)).map((p) => p.path);
  const jobPaths = (await problemsFor(job)).map((p) => p.path);
  assert.ok(podPaths.includes('/spec/containers/0/securityContext/runAsNonRoot'), podPaths.join('\n'));
  assert.ok(jobPaths.includes('/spec/template/spec/containers/0/securityContext/seccompProfile/type'), jobPaths.join('\n'));
});

// --- parseManifests -----------------------------------------------------------

test('parseManifests skips empty documents and comment-only "---" sections', () => {
  const yamlText = [
    '---',
    '# Source: supersonic/templates/disabled-feature.yaml',
    '---',
    '# Source: supersonic/templates/serviceaccount.yaml',
    'apiVersion: v1',
    'kind: ServiceAccount',
    'metadata:',
    '  name: demo-supersonic # trailing comment',
    '---',
    '',
    '---',
    '# Source: supersonic/templates/configmap.yaml',
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: demo-config',
    'data:',
    '  mode: "on"',
    '...',
    '',
  ].join('\n');
  const objects = parseManifests(yamlText);
  assert.equal(objects.map((o) => o.kind), ['ServiceAccount', 'ConfigMap']);
  assert.equal(objects[0]?.metadata, { name: 'demo-supersonic' });
  assert.equal(objects[1]?.data, { mode: 'on' });
  assert.equal(parseManifests(''), []);
  assert.equal(parseManifests('# only a comment\n---\n'), []);
});

test('parseManifests resolves scalars like Kubernetes does (YAML 1.1), so unquoted "on" is a bool', async () => {
  const [configMap] = parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    created: 2024-01-01\ndata:\n  mode: on\n');
  assert.equal((configMap?.data as Record<string, unknown>).mode, true);
  // Timestamps stay strings, as go-yaml v2 leaves them.
  assert.equal((configMap?.metadata as Record<string, unknown>).annotations, { created: '2024-01-01' });
  assertProblems(await problemsFor(configMap!), [['/data/mode', 'schema: must be string']]);
});

test('parseManifests reports YAML syntax errors and non-object documents', () => {
  assert.throws(() => parseManifests('a: [1, 2\n'), /YAML document #0/);
  assert.throws(() => parseManifests('- just\n- a list\n'), /expected a mapping/);
});

test.run();
