import { mergeLimits } from '@plugward/limits';
import { validateRequirements } from '@plugward/security';
import {
  PluginError,
  type PluginRequirements,
  RESOURCE_LIMIT_FIELDS,
  type ResourceLimits,
  type TrustLevel,
  validatePartialLimits,
} from '@plugward/types';
import { intersectRequirements } from './grant-policy.js';

/** What a plugin's code declared (`requirements()`, `resourceLimits()`, or a native plugin's limits struct). */
export interface CodeDeclarations {
  requirements: PluginRequirements;
  limits: Partial<ResourceLimits>;
}

/** The input of {@link checkDeclarations}. */
export interface DeclarationInput {
  name: string;
  trustLevel: TrustLevel;
  /** What the manifest requests (for a trusted plugin: its signed grant, before any host cap). */
  manifestRequirements: PluginRequirements;
  /** The manifest's declared limits. */
  manifestLimits: Partial<ResourceLimits>;
  /** The limits in force before the code's declaration: the manifest's within the host's caps. */
  limits: ResourceLimits;
  declared: CodeDeclarations;
}

/** The outcome of {@link checkDeclarations}. */
export interface DeclarationCheck {
  /** Each way the code asks for more than the manifest, one phrase each (empty when it asks for nothing more). */
  exceeded: string[];
  /** The limits in force: per field the smallest of the code's, the manifest's and the host's. */
  limits: ResourceLimits;
}

/**
 * Compares what a plugin's code declares with its manifest. The manifest stays authoritative: the code can narrow
 * limits (each field becomes the smallest of code, manifest and host) but never widen anything. What it asks beyond
 * the manifest is listed in `exceeded`; {@link enforceDeclarations} turns that into an error for a trusted plugin. For
 * an untrusted plugin the declaration is a request like its manifest, which never grants anything. Pure.
 */
export function checkDeclarations(input: DeclarationInput): DeclarationCheck {
  const exceeded: string[] = [];
  const code = input.declared.requirements;
  const manifest = input.manifestRequirements;
  const within = intersectRequirements(code, manifest);
  // A manifest with the full host network grants every network declaration (the intersection would drop targets the
  // broker keeps for explicit grants only, which is not a widening).
  if (manifest.network.mode !== 'full' && !same(within.network, intersectRequirements(code, code).network)) {
    exceeded.push(
      `network ${describeNetwork(code.network)} (the manifest: ${describeNetwork(manifest.network)})`,
    );
  }
  if (!same(within.filesystem, intersectRequirements(code, code).filesystem)) {
    exceeded.push(
      `filesystem ${describeFilesystem(code.filesystem)} (the manifest: ${describeFilesystem(manifest.filesystem)})`,
    );
  }
  for (const access of ['read', 'write'] as const) {
    const allowed = manifest.context[access];
    const extra = allowed.includes('*') ? [] : code.context[access].filter((k) => !allowed.includes(k));
    if (extra.length > 0)
      exceeded.push(`context ${access} ${extra.map((k) => JSON.stringify(k)).join(', ')}`);
  }
  for (const field of RESOURCE_LIMIT_FIELDS) {
    const asked = input.declared.limits[field];
    const granted = input.manifestLimits[field];
    if (asked !== undefined && granted !== undefined && asked > granted) {
      exceeded.push(`${field} ${asked} (the manifest: ${granted})`);
    }
  }
  return { exceeded, limits: mergeLimits(input.declared.limits, input.limits) };
}

/**
 * {@link checkDeclarations}, then: a trusted plugin whose code asks for more than its signed manifest fails with
 * `RequirementsExceeded` naming each difference; an untrusted one gets nothing more (its excess is returned for the
 * host's log).
 * @throws PluginError `RequirementsExceeded` (details.exceeded lists the differences).
 */
export function enforceDeclarations(input: DeclarationInput): DeclarationCheck {
  const check = checkDeclarations(input);
  if (input.trustLevel === 'trusted' && check.exceeded.length > 0) {
    throw new PluginError(
      'RequirementsExceeded',
      `plugin ${input.name} declares in its code more than its signed manifest grants: ${check.exceeded.join('; ')} — declare it in the manifest (plugward sign) or ask for less in the code`,
      { plugin: input.name, details: { exceeded: check.exceeded } },
    );
  }
  return check;
}

/**
 * Validates declarations a plugin reported (out of process they arrive over IPC from the plugin's own process: untrusted
 * input, checked like a manifest).
 * @throws PluginError `InvalidPlugin`.
 */
export function codeDeclarations(value: unknown, name: string): CodeDeclarations {
  try {
    if (value === null || typeof value !== 'object') throw new Error('no declarations were reported');
    const v = value as { requirements?: unknown; limits?: unknown };
    return {
      requirements: validateRequirements(v.requirements),
      limits: validatePartialLimits(v.limits ?? {}, `declared limits of ${name}`),
    };
  } catch (e) {
    throw new PluginError(
      'InvalidPlugin',
      `plugin ${name}: malformed code declarations: ${e instanceof Error ? e.message : String(e)}`,
      { plugin: name, cause: e },
    );
  }
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function describeNetwork(n: PluginRequirements['network']): string {
  if (n.mode !== 'restricted') return n.mode;
  const targets = n.allowedTargets.map((t) => (t.ports ? `${t.host}:${t.ports.join(',')}` : t.host));
  return `restricted to ${targets.join(', ') || 'nothing'}`;
}

function describeFilesystem(f: PluginRequirements['filesystem']): string {
  return f.mode === 'none' ? 'none' : `${f.mode} ${f.paths.join(', ')}`;
}
