/**
 * Proves that test/helpers/k8s/manifests.ts catches each class of problem it
 * claims to catch, at the right path, with a message that says what is wrong:
 * the offline allow-list, and what the real API server (the shared test cluster)
 * rejects, warns about or finds against the restricted Pod Security Standard.
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
import { fieldToPointer, splitTopLevel } from '../helpers/k8s/server-check.ts';
import { sharedCluster } from '../helpers/cluster/shared.ts';

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
  // YAML turns 1.6e+10 into the number 16000000000; the API server takes a number or a quantity string.
  assert.equal(valueAt(deployment, `${CONTAINER_0}/resources/requests`), { cpu: 0.5, memory: 16000000000 });
  assertProblems(await problemsFor(deployment), []);
  const asStrings = edit(validDeployment(), { [`${CONTAINER_0}/resources/requests`]: { cpu: '0.5', memory: '1.6e+10' } });
  assertProblems(await problemsFor(asStrings), []);
});

test('an invalid quantity string is rejected', async () => {
  const deployment = edit(validDeployment(), { [`${CONTAINER_0}/resources/limits/memory`]: '16 gigs' });
  assertProblems(await problemsFor(deployment), [['', 'quantities must match the regular expression']]);
});

// --- offline: the apiVersion allow-list ------------------------------------------

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

test('an object that is not a mapping is reported, and nothing of it is sent', async () => {
  assert.equal(await validateManifests(['just a string']), [{ object: 'document #0', path: '', message: 'expected a Kubernetes object, got a string' }]);
});

// --- the API server: validation --------------------------------------------------

test('metadata.name must exist and follow the naming rule of the kind', async () => {
  const [, service] = validRelease();
  assertProblems(await problemsFor(edit(validDeployment(), { '/metadata/name': REMOVE })), [['/metadata/name', 'name or generateName is required']]);
  assertProblems(await problemsFor(edit(validDeployment(), { '/metadata/name': 'Triton_Server' })), [['/metadata/name', 'RFC 1123 subdomain']]);
  // 64 characters: a Service (a DNS label) is rejected; a Deployment is accepted with a warning
  // (its pods' hostnames), which counts as a problem too; 63 are fine.
  const longName = `a${'b'.repeat(63)}`;
  assertProblems(await problemsFor(edit(service!, { '/metadata/name': longName })), [['/metadata/name', 'must be no more than 63 characters']]);
  assertProblems(await problemsFor(edit(validDeployment(), { '/metadata/name': longName })), [['/metadata/name', 'server warning: this is used in Pod names and hostnames']]);
  assertProblems(await problemsFor(edit(validDeployment(), { '/metadata/name': longName.slice(1) })), []);
  // RBAC names are path segments: "system:" prefixes are legal.
  const clusterRole = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: `supersonic:check-${process.pid}` }, rules: [] };
  assertProblems(await problemsFor(clusterRole), []);
});

test('a wrong type is rejected at its path: replicas "two"', async () => {
  assertProblems(await problemsFor(edit(validDeployment(), { '/spec/replicas': 'two' })), [['/spec/replicas', 'cannot unmarshal string']]);
});

test('a missing required field is rejected at its path: the selector of a Deployment', async () => {
  assertProblems(await problemsFor(edit(validDeployment(), { '/spec/selector': REMOVE })), [
    ['/spec/selector', 'Required value'],
    // Without a selector the template's labels select nothing.
    ['/spec/template/metadata/labels', 'does not match template'],
  ]);
});

test('unknown fields are rejected (strict field validation), each at its path', async () => {
  const deployment = edit(validDeployment(), {
    '/spec/replica': 3,
    [`${CONTAINER_0}/imagePullPolcy`]: 'Always',
    '/metadata/lables': { team: 'ml' },
  });
  assertProblems(await problemsFor(deployment), [
    ['/spec/replica', 'unknown field'],
    [`${CONTAINER_0}/imagePullPolcy`, 'unknown field'],
    ['/metadata/lables', 'unknown field'],
  ]);
});

test('unknown fields are found inside lists; ConfigMap data and annotations stay free-form', async () => {
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', annotations: { 'a/b': 'x' } }, data: { anyKey: 'value' } };
  assertProblems(await problemsFor(configMap), []);
  const [, service] = validRelease();
  assertProblems(await problemsFor(edit(service!, { '/spec/ports/0/protcol': 'TCP' })), [['/spec/ports/0/protcol', 'unknown field']]);
});

test('the CRDs\' own schemas apply: a ServiceMonitor with an unknown field and a wrong type', async () => {
  const serviceMonitor = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: { name: 'demo' },
    spec: { selector: { matchLabels: { app: 'demo' } }, endpoints: [{ port: 'metrics', interval: '30s' }] },
  };
  assertProblems(await problemsFor(serviceMonitor), []);
  assertProblems(await problemsFor(edit(structuredClone(serviceMonitor), { '/spec/endpoints/0/intervall': '30s' })), [['/spec/endpoints/0/intervall', 'unknown field']]);
  assertProblems(await problemsFor(edit(structuredClone(serviceMonitor), { '/spec/endpoints/0/interval': 30 })), [['/spec/endpoints/0/interval', 'must be of type string']]);
});

test('what the server only warns about is a problem too: an env var defined twice', async () => {
  const deployment = edit(validDeployment(), { [`${CONTAINER_0}/env`]: [{ name: 'A', value: '1' }, { name: 'A', value: '2' }] });
  assertProblems(await problemsFor(deployment), [[`${CONTAINER_0}/env/1`, 'server warning: hides previous definition of "A"']]);
});

test('a cluster-scoped object whose name another test took is still checked (the server validates before it looks at the name)', async () => {
  const cluster = await sharedCluster();
  const name = `supersonic-check-existing-${process.pid}`;
  const created = await cluster.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules: [] });
  assert.is(created.status, 201, JSON.stringify(created.body));
  try {
    const clusterRole = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'], verb: ['list'] }] };
    assertProblems(await problemsFor(clusterRole), [['/rules/0/verb', 'unknown field']]);
    assertProblems(await problemsFor({ ...clusterRole, rules: [{ apiGroups: [''], resources: ['nodes'] }] }), [['/rules/0/verbs', 'Required value']]);
    assertProblems(await problemsFor({ ...clusterRole, rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }] }), []);
  } finally {
    await cluster.request('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${name}`);
  }
});

// --- the API server: the restricted Pod Security Standard ---------------------------

const POD_SECURITY_VIOLATIONS: Array<[name: string, changes: Record<string, unknown>, fragment: string]> = [
  ['runAsNonRoot missing', { [`${TEMPLATE_SPEC}/securityContext/runAsNonRoot`]: REMOVE }, 'runAsNonRoot != true'],
  ['allowPrivilegeEscalation true', { [`${CONTAINER_0}/securityContext/allowPrivilegeEscalation`]: true }, 'allowPrivilegeEscalation != false (container "triton"'],
  ['capabilities not dropped', { [`${CONTAINER_0}/securityContext/capabilities/drop`]: ['NET_RAW'] }, 'unrestricted capabilities'],
  ['seccomp Unconfined', { [`${TEMPLATE_SPEC}/securityContext/seccompProfile/type`]: 'Unconfined' }, 'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")'],
  ['hostNetwork', { [`${TEMPLATE_SPEC}/hostNetwork`]: true }, 'host namespaces (hostNetwork=true)'],
  ['runAsUser 0', { [`${TEMPLATE_SPEC}/securityContext/runAsUser`]: 0 }, 'runAsUser=0 (pod must not set runAsUser=0)'],
  ['hostPort', { [`${CONTAINER_0}/ports/0/hostPort`]: 8000 }, 'hostPort (container "triton" uses hostPort 8000)'],
];

for (const [name, changes, fragment] of POD_SECURITY_VIOLATIONS) {
  test(`restricted PSS: ${name} is a problem, named by Pod Security admission`, async () => {
    assertProblems(await problemsFor(edit(validDeployment(), changes)), [[TEMPLATE_SPEC, `restricted PSS: ${fragment}`]]);
  });
}

test('restricted PSS: several violations are several problems', async () => {
  const deployment = edit(validDeployment(), {
    [`${TEMPLATE_SPEC}/hostPID`]: true,
    [`${CONTAINER_0}/securityContext/capabilities/add`]: ['SYS_ADMIN'],
    [`${CONTAINER_0}/securityContext/allowPrivilegeEscalation`]: REMOVE,
    [`${CONTAINER_0}/securityContext/privileged`]: true,
  });
  const problems = await problemsFor(deployment);
  assert.equal(problems.map((p) => p.message).sort(), [
    'restricted PSS: allowPrivilegeEscalation != false (container "triton" must set securityContext.allowPrivilegeEscalation=false)',
    'restricted PSS: host namespaces (hostPID=true)',
    'restricted PSS: privileged (container "triton" must not set securityContext.privileged=true)',
    'restricted PSS: unrestricted capabilities (container "triton" must not include "SYS_ADMIN" in securityContext.capabilities.add)',
  ]);
});

test('restricted PSS: hostPath is a problem unless allowHostPath is passed, and then only hostPath is excused', async () => {
  const deployment = edit(validDeployment(), { [`${TEMPLATE_SPEC}/volumes/2`]: { name: 'shm', hostPath: { path: '/dev/shm' } } });
  assertProblems(await problemsFor(deployment), [[TEMPLATE_SPEC, 'restricted PSS: restricted volume types (volume "shm" uses restricted volume type "hostPath")']]);
  assertProblems(await problemsFor(deployment, { allowHostPath: true }), []);
  // The other rules still hold for an excused object.
  const alsoHostNetwork = edit(structuredClone(deployment), { [`${TEMPLATE_SPEC}/hostNetwork`]: true });
  assertProblems(await problemsFor(alsoHostNetwork, { allowHostPath: true }), [[TEMPLATE_SPEC, 'restricted PSS: host namespaces (hostNetwork=true)']]);
});

test('restricted PSS: nfs is a problem unless allowNfs is passed; allowHostPath does not excuse it', async () => {
  const deployment = edit(validDeployment(), { [`${TEMPLATE_SPEC}/volumes/2`]: { name: 'repo', nfs: { server: 'nfs.example.org', path: '/models' } } });
  assertProblems(await problemsFor(deployment), [[TEMPLATE_SPEC, 'uses restricted volume type "nfs"']]);
  assertProblems(await problemsFor(deployment, { allowNfs: true }), []);
  assertProblems(await problemsFor(deployment, { allowHostPath: true }), [[TEMPLATE_SPEC, 'uses restricted volume type "nfs"']]);
});

test('restricted PSS: init containers, bare Pods and Jobs are checked; skipPodSecurity skips only this check', async () => {
  const init = edit(validDeployment(), { [`${TEMPLATE_SPEC}/initContainers`]: [{ name: 'fetch-models', image: 'busybox:1.36' }] });
  assertProblems(await problemsFor(init), [
    [TEMPLATE_SPEC, 'allowPrivilegeEscalation != false (container "fetch-models"'],
    [TEMPLATE_SPEC, 'unrestricted capabilities (container "fetch-models"'],
  ]);
  const podSpec = { containers: [{ name: 'test', image: 'curlimages/curl:8.8.0' }] };
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'demo-test' }, spec: podSpec };
  const job = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'demo-job' }, spec: { template: { spec: { ...podSpec, restartPolicy: 'Never' } } } };
  assert.ok((await problemsFor(pod)).some((p) => p.path === '/spec' && p.message.includes('runAsNonRoot != true')), format(await problemsFor(pod)));
  assert.ok((await problemsFor(job)).some((p) => p.path === TEMPLATE_SPEC && p.message.includes('seccompProfile')), format(await problemsFor(job)));
  assertProblems(await problemsFor(pod, { skipPodSecurity: true }), []);
  assertProblems(await problemsFor(edit(structuredClone(pod), { '/spec/containers/0/imagePullPolcy': 'x' }), { skipPodSecurity: true }), [['/spec/containers/0/imagePullPolcy', 'unknown field']]);
});

// --- the server's field paths and Pod Security messages, read ------------------------

test('fieldToPointer reads indices, keyed list items and map keys of the server\'s paths', () => {
  const object = { spec: { containers: [{ name: 'a' }, { name: 'triton', env: [] }] }, metadata: { annotations: { 'a/b': 'x' } } };
  assert.is(fieldToPointer('spec.containers[1].image', object), '/spec/containers/1/image');
  assert.is(fieldToPointer('spec.containers[name="triton"].env', object), '/spec/containers/1/env');
  assert.is(fieldToPointer('metadata.annotations[a/b]', object), '/metadata/annotations/a~1b');
  assert.is(fieldToPointer('', object), '');
});

test('splitTopLevel splits Pod Security\'s list at commas outside parentheses and quotes', () => {
  assert.equal(splitTopLevel('a (containers "x", "y" must), b, c (volume "p,q")'), ['a (containers "x", "y" must)', 'b', 'c (volume "p,q")']);
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
  assertProblems(await problemsFor(configMap!), [['/data', 'cannot unmarshal bool into Go struct field ConfigMap.data of type string']]);
});

test('parseManifests reports YAML syntax errors and non-object documents', () => {
  assert.throws(() => parseManifests('a: [1, 2\n'), /YAML document #0/);
  assert.throws(() => parseManifests('- just\n- a list\n'), /expected a mapping/);
});

test.run();
