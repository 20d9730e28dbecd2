// Builds the UI into ../dist (or the folder given as the first argument):
// one ES module bundle per entry and lazily loaded chunk (esbuild, whose
// output depends only on its version and the sources, so the build is
// reproducible from package-lock.json), a stylesheet, index.html naming
// them, and the licenses of the bundled packages. `make ui` runs it after
// `npm ci`; `make ui-check` builds into a temporary folder and compares.
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const out = path.resolve(process.argv[2] || path.join(here, '..', 'dist'));
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, 'assets'), { recursive: true });

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: ['src/main.jsx'],
  bundle: true,
  splitting: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
  minify: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: path.join(out, 'assets'),
  entryNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  assetNames: '[name]-[hash]',
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});

const outputs = result.metafile.outputs;
const rel = (p) => path.relative(out, path.resolve(here, p)).split(path.sep).join('/');
let js, css;
for (const [file, meta] of Object.entries(outputs)) {
  if (meta.entryPoint === 'src/main.jsx') {
    js = rel(file);
    css = meta.cssBundle && rel(meta.cssBundle);
  }
}
if (!js || !css) throw new Error('the build made no main bundle or stylesheet');

const html = fs.readFileSync(path.join(here, 'src', 'index.html'), 'utf8')
  .replace('{{script}}', js)
  .replace('{{style}}', css);
fs.writeFileSync(path.join(out, 'index.html'), html);

// The licenses of every package that went into the bundles.
const pkgs = new Map();
for (const meta of Object.values(outputs)) {
  for (const input of Object.keys(meta.inputs)) {
    const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
    if (m) pkgs.set(m[1], true);
  }
}
let licenses = 'Third-party software bundled in Relay\'s web UI\n';
for (const name of [...pkgs.keys()].sort()) {
  const dir = path.join(here, 'node_modules', name);
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const file = fs.readdirSync(dir).find((f) => /^(license|licence|copying)/i.test(f));
  licenses += `\n${'='.repeat(72)}\n${name} ${pkg.version} (${pkg.license})\n${'='.repeat(72)}\n`;
  licenses += file ? fs.readFileSync(path.join(dir, file), 'utf8').trim() + '\n' : `License: ${pkg.license}\n`;
}
fs.writeFileSync(path.join(out, 'assets', 'THIRD_PARTY_LICENSES.txt'), licenses);

const sizes = Object.entries(outputs).map(([f, m]) => `${rel(f)} ${(m.bytes / 1024).toFixed(1)} KB`);
console.log(sizes.join('\n'));
