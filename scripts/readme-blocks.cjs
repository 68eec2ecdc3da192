/**
 * A package README's code blocks as tests, in a project where the package was installed as a user installs it
 * (see consumer-check.cjs). Markers are HTML comments on the line before a block, so readers do not see them:
 *
 *   (none)                       the block runs as written and must exit 0 within RUN_TIMEOUT_MS; a TypeScript
 *                                block is type-checked (TypeScript 5.9 and 7, `--module nodenext --strict`),
 *                                compiled and run as an ES module and again as CommonJS (unless it exports, its
 *                                body wrapped in an async function: CommonJS has no top-level await); a JavaScript block runs
 *                                as the module system it is written in
 *   <!-- runs until SIGINT -->   a server: it must still run after SERVE_MS, then exit 0 on SIGINT
 *   <!-- fragment: DECLS -->     a piece of a program (it uses names of yours): only type-checked, with DECLS
 *                                (TypeScript declarations or imports) put before it; a JavaScript fragment is only
 *                                parsed (`node --check`)
 *
 * A block whose first line is a comment naming a file (`// echo-handler.js`) is written under that name, so the
 * blocks after it can load it.
 *
 * Blocks run on every node binary in X_README_NODES (paths, colon-separated; `npm test` gives one per supported
 * Node line), else on the node running this script.
 */
'use strict';
const { spawnSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const RUN_TIMEOUT_MS = 30_000;
const SERVE_MS = 2_000;
const NODES = (process.env.X_README_NODES || process.execPath).split(':').filter(Boolean);

/** "v24.1.0: " before a failure, when blocks run on more than one node. */
function onNode(node) {
  if (NODES.length === 1) return '';
  return `${spawnSync(node, ['-v'], { encoding: 'utf8' }).stdout.trim()}: `;
}

function extractBlocks(markdown) {
  const blocks = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(ts|typescript|js|javascript)\s*$/.exec(lines[i]);
    if (open === null) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !lines[end].startsWith('```')) end++;
    const code = lines.slice(start, end).join('\n') + '\n';
    let before = i - 1;
    while (before >= 0 && lines[before].trim() === '') before--;
    const marker = before >= 0 ? /^<!--\s*(.*?)\s*-->$/.exec(lines[before].trim()) : null;
    const text = marker?.[1] ?? '';
    const fragment = /^fragment\b:?\s*(.*)$/s.exec(text);
    const named = /^\/\/\s*([\w.-]+\.(?:c|m)?[jt]s)\b/.exec(code);
    blocks.push({
      line: start,
      typescript: open[1].startsWith('t'),
      code,
      fragment: fragment !== null,
      declarations: fragment?.[1] ?? '',
      serves: /^runs until SIGINT$/.test(text),
      name: named?.[1],
    });
    i = end;
  }
  return blocks;
}

/** Imports at the head of a module, kept at the top level when its body is wrapped for CommonJS. */
function splitImports(code) {
  const lines = code.split('\n');
  let i = 0;
  let inImport = false;
  for (; i < lines.length; i++) {
    const line = lines[i];
    if (inImport) {
      if (/from\s+['"][^'"]+['"];?\s*$/.test(line)) inImport = false;
      continue;
    }
    if (line.trim() === '' || line.trim().startsWith('//')) continue;
    if (!line.startsWith('import ')) break;
    if (!/from\s+['"][^'"]+['"];?\s*$/.test(line) && !/^import\s+['"]/.test(line)) inImport = true;
  }
  return { imports: lines.slice(0, i).join('\n'), body: lines.slice(i).join('\n') };
}

/** A JavaScript fragment is only parsed. */
function parseOnly(file) {
  const parsed = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8' });
  return parsed.status === 0 ? undefined : parsed.stderr;
}

function runToEnd(node, project, file) {
  const result = spawnSync(node, [file], { cwd: project, encoding: 'utf8', timeout: RUN_TIMEOUT_MS });
  if (result.error?.code === 'ETIMEDOUT') return `did not exit within ${RUN_TIMEOUT_MS} ms`;
  return result.status === 0 ? undefined : `exit ${result.status ?? result.signal}:\n${result.stdout}${result.stderr}`;
}

async function runUntilSigint(node, project, file) {
  const child = spawn(node, [file], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const early = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve(undefined), SERVE_MS))]);
  if (early !== undefined) return `exited (${early}) before it was signalled:\n${output}`;
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  const code = await exited;
  clearTimeout(timer);
  return code === 0 ? undefined : `did not exit 0 on SIGINT (${code}):\n${output}`;
}

/**
 * Runs a block's file as its marker says, to its end or as a server until SIGINT, on every node of NODES. Resolves
 * with the failures, one line per node, joined (undefined when it ran everywhere).
 */
async function runAsWritten(dir, file, serves) {
  const failures = [];
  for (const node of NODES) {
    const failure = serves ? await runUntilSigint(node, dir, file) : runToEnd(node, dir, file);
    if (failure !== undefined) failures.push(onNode(node) + failure);
  }
  return failures.length === 0 ? undefined : failures.join('\n');
}

/**
 * Checks every block of `readme` in `project`; `tscs` maps a label to a tsc binary. Resolves with the failures
 * (strings) and a count of blocks run and type-checked.
 */
async function checkReadme(project, readme, tscs) {
  const blocks = extractBlocks(fs.readFileSync(readme, 'utf8'));
  const failures = [];
  const dir = path.join(project, 'readme');
  fs.mkdirSync(dir, { recursive: true });
  // Plain output: tsc turns colour on when FORCE_COLOR is set at all (npm test sets it to 0).
  const tsc = (label, args) => spawnSync(process.execPath, [tscs[label], '--pretty', 'false', ...args], { cwd: dir, encoding: 'utf8' });
  let ran = 0;
  let typed = 0;
  for (const [index, block] of blocks.entries()) {
    const where = `README line ${block.line}`;
    const base = block.name !== undefined ? path.basename(block.name, path.extname(block.name)) : `block-${index + 1}`;
    if (!block.typescript) {
      const file = path.join(dir, block.name ?? `${base}.js`);
      fs.writeFileSync(file, block.code);
      const failure = block.fragment ? parseOnly(file) : await runAsWritten(dir, file, block.serves);
      if (failure !== undefined) failures.push(`${where} (JavaScript): ${failure}`);
      else ran += block.fragment ? 0 : 1;
      continue;
    }
    const esm = path.join(dir, `${base}.mts`);
    fs.writeFileSync(esm, block.fragment ? `${block.declarations}\n${block.code}\nexport {};\n` : block.code);
    const sources = [esm];
    let cjs;
    if (!block.fragment) {
      const { imports, body } = splitImports(block.code);
      cjs = path.join(dir, `${base}.cts`);
      // A module that exports is taken as it is; otherwise its body may await at the top, which CommonJS cannot:
      // it runs in an async function, whose rejection (unhandled) ends the process with code 1.
      const wrapped = /^export\s/m.test(body) ? body : `void (async () => {\n${body}\n})();`;
      fs.writeFileSync(cjs, `${imports}\n${wrapped}\n`);
      sources.push(cjs);
    }
    for (const label of Object.keys(tscs)) {
      const checked = tsc(label, ['--module', 'nodenext', '--target', 'es2023', '--strict', '--noEmit', '--skipLibCheck', ...sources]);
      if (checked.status !== 0) failures.push(`${where} (${label}):\n${checked.stdout}${checked.stderr}`);
    }
    typed++;
    if (block.fragment) continue;
    // Run as the user's build would: compiled for Node 22 (es2023 lowers `using`), then each module system.
    const built = tsc(Object.keys(tscs)[0], ['--module', 'nodenext', '--target', 'es2023', '--strict', '--skipLibCheck', '--outDir', 'out', ...sources]);
    if (built.status !== 0) continue; // reported by the type check above
    for (const compiled of [`${base}.mjs`, `${base}.cjs`]) {
      const file = path.join(dir, 'out', compiled);
      const failure = await runAsWritten(dir, file, block.serves);
      if (failure !== undefined) failures.push(`${where} run as ${compiled.endsWith('.mjs') ? 'ESM' : 'CommonJS'}: ${failure}`);
    }
    ran++;
  }
  return { failures, ran, typed, blocks: blocks.length };
}

module.exports = { checkReadme, extractBlocks };
