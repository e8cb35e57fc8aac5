/**
 * The mutations, in the order they run on a pod's copy. Order matters: the auth sidecar comes
 * last, so CVMFS mounts go to the pod's own containers and not to the sidecar (cvmfs.ts also
 * skips a sidecar already there, from a previous pass).
 */
import { authSidecarMutation } from './auth-sidecar.ts';
import type { Mutation } from './context.ts';
import { cvmfsMutation } from './cvmfs.ts';
import { gpuMutation } from './gpu.ts';

export const MUTATIONS: readonly Mutation[] = [gpuMutation, cvmfsMutation, authSidecarMutation];
