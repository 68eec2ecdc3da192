#!/usr/bin/env node
/**
 * Installs each package as a user would and checks it from outside: `npm pack`s every published package, and
 * for each one makes a fresh project holding only its tarball (with the tarballs of the @x packages it depends
 * on), the newest release of every peer it declares and TypeScript 5.9 and 7. There it checks that
 *   - `npm ls --all` is clean (no peer range the newest peer falls outside of) and the install printed no
 *     warning but npm's notice about install scripts (a project setting, see the README),
 *   - every entry point loads by package name with `require` and with `import`,
 *   - every entry point type-checks by package name under `--module nodenext --strict`, from ESM and CommonJS,
 *     on both TypeScript lines, without @types/node or any flag the user would have to add. Errors inside a
 *     peer's own declarations are printed but not counted: they are the peer's (ioredis 6 under `--strict`),
 *   - every code block of its README type-checks, and runs and exits as written unless it says it is a
 *     fragment (readme-blocks.cjs; the blocks use the services `npm test` starts),
 *   - every relative link of its README names a file inside the installed package.
 *
 * Usage: node scripts/consumer-check.cjs [package...]   (default: every package; build first)
 * Exits 1 when a check fails. Needs the npm registry.
 */
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { checkReadme } = require('./readme-blocks.cjs');

const ROOT = path.resolve(__dirname, '..');
const TYPESCRIPTS = { ts59: 'typescript@~5.9', ts7: 'typescript@^7' };

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function publishedPackages() {
  const dir = path.join(ROOT, 'packages');
  return fs
    .readdirSync(dir)
    .map((name) => ({ dir: path.join(dir, name), json: readJson(path.join(dir, name, 'package.json')) }))
    .filter(({ json }) => !json.private);
}

function run(cwd, command, args, options = {}) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', ...options });
  return { ok: result.status === 0, out: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

/** The package's @x dependencies, their own, and so on. */
function ownDependencies(name, byName, seen = new Set()) {
  for (const dep of Object.keys(byName.get(name).json.dependencies ?? {})) {
    if (byName.has(dep) && !seen.has(dep)) {
      seen.add(dep);
      ownDependencies(dep, byName, seen);
    }
  }
  return seen;
}

function entryPoints(json) {
  return Object.keys(json.exports ?? { '.': null })
    .filter((key) => key !== './package.json')
    .map((key) => (key === '.' ? json.name : `${json.name}/${key.slice(2)}`));
}

async function check(pkg, byName, tarballs, work) {
  const name = pkg.json.name;
  const failures = [];
  const notes = [];
  const project = path.join(work, name.replace('/', '-'));
  fs.mkdirSync(project, { recursive: true });
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }, null, 2));
  const ours = [name, ...ownDependencies(name, byName)].map((dep) => tarballs.get(dep));
  const peers = Object.keys(pkg.json.peerDependencies ?? {});
  const typescripts = Object.entries(TYPESCRIPTS).map(([alias, spec]) => `${alias}@npm:${spec}`);
  const install = run(project, 'npm', ['install', '--no-audit', '--no-fund', ...ours, ...peers, ...typescripts]);
  if (!install.ok) return { name, failures: [`npm install failed:\n${install.out}`], notes };
  const warnings = install.out
    .split('\n')
    .filter((line) => line.startsWith('npm warn') && !line.startsWith('npm warn install-scripts'));
  if (warnings.length > 0) failures.push(`install warnings:\n${warnings.join('\n')}`);
  const ls = run(project, 'npm', ['ls', '--all']);
  if (!ls.ok) failures.push(`npm ls --all:\n${ls.out.split('\n').filter((l) => /ERR|invalid|missing|UNMET/.test(l)).join('\n')}`);

  const entries = entryPoints(pkg.json);
  for (const entry of entries) {
    const cjs = run(project, process.execPath, ['-e', `const m = require(${JSON.stringify(entry)}); if (Object.keys(m).length === 0) throw new Error('no exports');`]);
    if (!cjs.ok) failures.push(`require('${entry}'):\n${cjs.out}`);
    const esm = run(project, process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(entry)}); if (Object.keys(m).length === 0) throw new Error('no exports');`]);
    if (!esm.ok) failures.push(`import('${entry}'):\n${esm.out}`);
  }

  const uses = entries.map((entry, i) => `import * as m${i} from ${JSON.stringify(entry)};`).join('\n');
  const touch = `export const loaded: number = ${entries.map((_, i) => `Object.keys(m${i}).length`).join(' + ')};\n`;
  fs.writeFileSync(path.join(project, 'index.mts'), `${uses}\n${touch}`);
  fs.writeFileSync(path.join(project, 'index.cts'), `${uses}\n${touch}`);
  const tscs = Object.fromEntries(Object.keys(TYPESCRIPTS).map((alias) => [alias, path.join(project, 'node_modules', alias, 'bin', 'tsc')]));
  for (const tsc of Object.values(tscs)) {
    const version = run(project, process.execPath, [tsc, '-v']).out.trim();
    const typed = run(project, process.execPath, [tsc, '--pretty', 'false', '--module', 'nodenext', '--strict', '--noEmit', 'index.mts', 'index.cts']);
    if (typed.ok) continue;
    const lines = typed.out.split('\n').filter((line) => /error TS\d+/.test(line));
    // A peer's own declarations failing under --strict are the peer's to fix; ours and the user's files are not.
    const theirs = lines.filter((line) => line.startsWith('node_modules/') && !line.startsWith('node_modules/@x/'));
    const counted = lines.filter((line) => !theirs.includes(line));
    if (theirs.length > 0) notes.push(`${version}: ${theirs.length} error(s) in peers' own declarations, e.g. ${theirs[0]}`);
    if (counted.length > 0 || lines.length === 0) failures.push(`${version} --module nodenext --strict:\n${counted.join('\n') || typed.out}`);
  }
  failures.push(...deadLinks(path.join(project, 'node_modules', name)));
  const readme = await checkReadme(project, path.join(pkg.dir, 'README.md'), tscs);
  failures.push(...readme.failures);
  notes.push(`README: ${readme.blocks} blocks, ${readme.typed} type-checked, ${readme.ran} run`);
  return { name, failures, notes, entries };
}

/**
 * Links of the installed README that lead nowhere: a relative link must name a file inside the installed package
 * (the repository's other folders are not in the tarball, and npm's page has no repository to resolve them in).
 */
function deadLinks(installed) {
  const text = fs.readFileSync(path.join(installed, 'README.md'), 'utf8');
  const dead = [];
  for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^(https?:|mailto:|#)/.test(target)) continue;
    if (!fs.existsSync(path.join(installed, target.split('#')[0]))) dead.push(`README link (${target}) leads nowhere once installed`);
  }
  return dead;
}

async function main() {
  const all = publishedPackages();
  const byName = new Map(all.map((pkg) => [pkg.json.name, pkg]));
  const wanted = process.argv.slice(2);
  const selected = wanted.length === 0 ? all : all.filter((pkg) => wanted.includes(pkg.json.name) || wanted.includes(path.basename(pkg.dir)));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'x-consumer-'));
  const packed = path.join(work, 'tarballs');
  fs.mkdirSync(packed);
  const tarballs = new Map();
  for (const pkg of all) {
    const file = execFileSync('npm', ['pack', '--silent', '--pack-destination', packed], { cwd: pkg.dir, encoding: 'utf8' }).trim().split('\n').pop();
    tarballs.set(pkg.json.name, path.join(packed, file));
  }
  let failed = 0;
  for (const pkg of selected) {
    const started = Date.now();
    const result = await check(pkg, byName, tarballs, work);
    const took = ((Date.now() - started) / 1000).toFixed(1);
    if (result.failures.length === 0) console.log(`ok   ${result.name} (${result.entries.join(', ')}; ${took} s)`);
    else {
      failed++;
      console.log(`FAIL ${result.name} (${took} s)`);
      for (const failure of result.failures) console.log(`  ${failure.replace(/\n/g, '\n    ')}`);
    }
    for (const note of result.notes) console.log(`  note: ${note}`);
  }
  fs.rmSync(work, { recursive: true, force: true });
  console.log(`consumer check: ${selected.length - failed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
