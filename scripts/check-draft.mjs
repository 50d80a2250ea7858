#!/usr/bin/env node
// Draft checks for draft/draft-marp-agent-rollback-00.xml.
//   1. xmllint --noout --relaxng ../shared/xml2rfc/v3.rng   (schema validity)
//   2. idnits --offline -o json                             (fails on any *error*;
//      idnits itself exits 0 even when it reports errors, so we parse its JSON)
//   3. xml2rfc --text --html into dist/draft/, only if xml2rfc is on PATH.
// If the draft does not exist yet, prints "no draft yet" and exits 0.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const draftName = process.env.DRAFT ?? 'draft/draft-marp-agent-rollback-00.xml';
const draft = resolve(root, draftName);
const rng = resolve(root, '..', 'shared', 'xml2rfc', 'v3.rng');

if (!existsSync(draft)) {
  console.log(`no draft yet (${draftName} does not exist)`);
  process.exit(0);
}

const onPath = (cmd) =>
  spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

let failed = false;

// 1. RELAX NG validation
if (!onPath('xmllint')) {
  console.error('check-draft: xmllint not found (apt-get install -y libxml2-utils)');
  process.exit(2);
}
if (!existsSync(rng)) {
  console.error(`check-draft: RELAX NG grammar not found at ${rng}`);
  process.exit(2);
}
{
  const r = spawnSync('xmllint', ['--noout', '--relaxng', rng, draft], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`check-draft: xmllint RELAX NG validation FAILED (exit ${r.status})`);
    failed = true;
  } else {
    console.log('check-draft: xmllint RELAX NG validation ok');
  }
}

// 2. idnits (offline, JSON output)
{
  const idnitsBin = join(root, 'node_modules', '.bin', 'idnits');
  const r = spawnSync(idnitsBin, ['--offline', '-o', 'json', draft], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = r.stdout ?? '';
  const start = out.indexOf('{');
  let report;
  try {
    report = JSON.parse(out.slice(start));
  } catch {
    console.error(`check-draft: could not parse idnits JSON output (exit ${r.status})`);
    console.error(out);
    console.error(r.stderr ?? '');
    process.exit(2);
  }
  const nits = Array.isArray(report.nits) ? report.nits : [];
  const errors = nits.filter((n) => n.severity === 'ValidationError');
  const warnings = nits.filter((n) => n.severity === 'ValidationWarning');
  const comments = nits.filter((n) => n.severity === 'ValidationComment');
  const fmt = (n) =>
    `  [${n.severity.replace('Validation', '')}] ${n.code}: ${n.desc}` +
    (n.line ? ` (line ${n.line.map((l) => l.line).join(', ')})` : '') +
    (n.path ? ` @ ${n.path}` : '');
  for (const n of [...errors, ...warnings, ...comments]) console.log(fmt(n));
  console.log(
    `check-draft: idnits ${errors.length} error(s), ${warnings.length} warning(s), ${comments.length} comment(s)`,
  );
  if (r.status !== 0 || errors.length > 0) {
    console.error('check-draft: idnits FAILED');
    failed = true;
  }
}

// 3. Render with xml2rfc, when available
if (onPath('xml2rfc')) {
  const outDir = join(root, 'dist', 'draft');
  mkdirSync(outDir, { recursive: true });
  const r = spawnSync('xml2rfc', ['--text', '--html', '--path', outDir, draft], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('check-draft: xml2rfc rendering FAILED');
    failed = true;
  } else {
    console.log(`check-draft: rendered text/html into ${outDir}`);
  }
} else {
  console.log('check-draft: xml2rfc not on PATH, skipping text/html rendering');
}

process.exit(failed ? 1 : 0);
