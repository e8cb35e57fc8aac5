/**
 * The image's SBOM as an SPDX 2.3 JSON document: one package per input (our servers, Node's
 * runtime, each Debian package, each npm package whose code the bundle holds), with its purl and,
 * where pinned, its sha256. Deterministic: the creation time is the image's.
 */
import { sha256 } from './debian.ts';

export interface SbomPackage {
  name: string;
  version: string;
  purl: string;
  license?: string;
  checksum?: string;
  supplier?: string;
}

export function spdxDocument(name: string, created: string, packages: SbomPackage[]): Record<string, unknown> {
  const id = (pkg: SbomPackage) => `SPDXRef-Package-${pkg.name.replace(/[^A-Za-z0-9.-]/g, '-')}-${pkg.version.replace(/[^A-Za-z0-9.-]/g, '-')}`;
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name,
    documentNamespace: `https://fastmachinelearning.org/SuperSONIC/spdx/${name}-${sha256(JSON.stringify(packages)).slice(0, 16)}`,
    creationInfo: { created, creators: ['Tool: supersonic webhook/image/build-image.ts'] },
    packages: packages.map((pkg) => ({
      SPDXID: id(pkg),
      name: pkg.name,
      versionInfo: pkg.version,
      downloadLocation: 'NOASSERTION',
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: pkg.license ?? 'NOASSERTION',
      supplier: pkg.supplier ? `Organization: ${pkg.supplier}` : 'NOASSERTION',
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: pkg.purl }],
      ...(pkg.checksum ? { checksums: [{ algorithm: 'SHA256', checksumValue: pkg.checksum }] } : {}),
    })),
    relationships: [
      { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: id(packages[0]!) },
      ...packages.slice(1).map((pkg) => ({ spdxElementId: id(packages[0]!), relationshipType: 'CONTAINS', relatedSpdxElement: id(pkg) })),
    ],
  };
}
