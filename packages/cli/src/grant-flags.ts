import {
  displayText,
  type GrantDecision,
  type HookGrant,
  type HostGrants,
  type NetworkTarget,
  PluginError,
  type PluginGrant,
  type PluginRequirements,
} from '@plugward/types';

/** The `--grant` syntax, for usage texts and errors. */
export const GRANT_SYNTAX = `--grant <plugin>:<what>=<value>, one thing per flag (repeat the flag):
  network=isolated | network=full | network=restricted:<host>[:<port>[+<port>…]][,…]   (IPv6 as [addr]:port)
  fs.ro=<abs path>[,…] | fs.rw=<abs path>[,…]
  context.read=<key>[,…] | context.write=<key>[,…]
  hooks=<hook>[@<min priority>[..<max priority>]][,…]      (default range: 300 and later, after trusted handlers)
  sha3_512=<hex>                                          (bind the grant to exactly these bytes)`;

function bad(flag: string, why: string): PluginError {
  return new PluginError('InvalidArgument', `--grant ${JSON.stringify(flag)}: ${why}\n\n${GRANT_SYNTAX}`);
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function port(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw bad(flag, `invalid port ${JSON.stringify(text)}`);
  return n;
}

function target(text: string, flag: string): NetworkTarget {
  const make = (host: string, ports: string | undefined): NetworkTarget =>
    ports === undefined ? { host } : { host, ports: ports.split('+').map((p) => port(p, flag)) };
  const v6 = /^\[([^\]]+)\](?::([\d+]+))?$/.exec(text);
  if (v6) return make(v6[1] as string, v6[2]);
  const m = /^([^:]+)(?::([\d+]+))?$/.exec(text);
  if (m) return make(m[1] as string, m[2]);
  // A bare IPv6 address (or range) can't carry a port: that is what the brackets are for.
  if (/^[0-9a-fA-F:./]+$/.test(text)) return { host: text };
  throw bad(flag, `invalid target ${JSON.stringify(text)}`);
}

function hook(text: string, flag: string): HookGrant {
  const m = /^([^@]+)(?:@(-?\d+)(?:\.\.(-?\d+))?)?$/.exec(text);
  if (!m) throw bad(flag, `invalid hook ${JSON.stringify(text)}`);
  const grant: HookGrant = { name: m[1] as string };
  if (m[2] !== undefined) grant.minPriority = Number(m[2]);
  if (m[3] !== undefined) grant.maxPriority = Number(m[3]);
  return grant;
}

/**
 * Parses the `--grant` flags of `plugward run` into the registry's `HostGrants` (per plugin name). Nothing is granted
 * that a flag does not name; a malformed flag is an `InvalidArgument` that shows the syntax.
 */
export function parseGrantFlags(flags: readonly string[]): HostGrants {
  const plugins: Record<string, PluginGrant> = Object.create(null);
  for (const flag of flags) {
    const colon = flag.indexOf(':');
    const eq = flag.indexOf('=', colon + 1);
    if (colon <= 0 || eq < 0) throw bad(flag, 'expected <plugin>:<what>=<value>');
    const name = flag.slice(0, colon);
    const what = flag.slice(colon + 1, eq);
    const value = flag.slice(eq + 1);
    const g: PluginGrant = plugins[name] ?? {};
    plugins[name] = g;
    switch (what) {
      case 'network': {
        if (
          g.network !== undefined &&
          !(g.network.mode === 'restricted' && value.startsWith('restricted:'))
        ) {
          throw bad(flag, `network of ${name} is already granted as ${g.network.mode}`);
        }
        if (value === 'isolated' || value === 'full') g.network = { mode: value };
        else if (value.startsWith('restricted:')) {
          const targets = list(value.slice('restricted:'.length)).map((t) => target(t, flag));
          if (targets.length === 0) throw bad(flag, 'restricted needs at least one target');
          const before = g.network?.mode === 'restricted' ? g.network.allowedTargets : [];
          g.network = { mode: 'restricted', allowedTargets: [...before, ...targets] };
        } else throw bad(flag, 'network is isolated, full or restricted:<targets>');
        break;
      }
      case 'fs.ro':
      case 'fs.rw': {
        const mode = what === 'fs.rw' ? 'readWrite' : 'readOnly';
        const paths = list(value);
        if (paths.length === 0 || paths.some((p) => !p.startsWith('/')))
          throw bad(flag, 'paths must be absolute');
        if (g.filesystem !== undefined && g.filesystem.mode !== mode) {
          throw bad(
            flag,
            `filesystem of ${name} is already granted as ${g.filesystem.mode} (one mode per plugin)`,
          );
        }
        const before = g.filesystem && 'paths' in g.filesystem ? g.filesystem.paths : [];
        g.filesystem = { mode, paths: [...before, ...paths] };
        break;
      }
      case 'context.read':
      case 'context.write': {
        const keys = list(value);
        const ctx = g.context ?? { read: [], write: [] };
        g.context =
          what === 'context.read'
            ? { ...ctx, read: [...ctx.read, ...keys] }
            : { ...ctx, write: [...ctx.write, ...keys] };
        break;
      }
      case 'hooks':
        g.hooks = [...(g.hooks ?? []), ...list(value).map((h) => hook(h, flag))];
        break;
      case 'sha3_512':
        if (!/^[0-9a-f]{128}$/.test(value)) throw bad(flag, 'sha3_512 is 128 lowercase hex digits');
        g.sha3_512 = value;
        break;
      default:
        throw bad(flag, `unknown grant ${JSON.stringify(what)}`);
    }
  }
  return { plugins: { ...plugins } };
}

/** One line for a person: what a set of requirements opens (plugin-controlled parts escaped). */
export function describeRequirements(req: PluginRequirements): string {
  const net =
    req.network.mode === 'restricted'
      ? `restricted(${req.network.allowedTargets
          .map((t) => (t.ports ? `${t.host}:${t.ports.join('+')}` : t.host))
          .join(', ')})`
      : req.network.mode;
  const fs =
    req.filesystem.mode === 'none' ? 'none' : `${req.filesystem.mode}(${req.filesystem.paths.join(', ')})`;
  const ctx = `read(${req.context.read.join(', ')}) write(${req.context.write.join(', ')})`;
  return displayText(`network ${net}; filesystem ${fs}; context ${ctx}`, 600);
}

/** `hooks a@300.., b@0..50`, or `any` for trusted plugins. */
export function describeHooks(hooks: GrantDecision['hooks']): string {
  if (hooks === 'any') return 'any';
  if (hooks.length === 0) return 'none';
  return displayText(
    hooks.map((h) => `${h.name}@${h.minPriority ?? 300}..${h.maxPriority ?? ''}`).join(', '),
    300,
  );
}
