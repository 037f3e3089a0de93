// Rebuilds static/vendor/plotly-axisboard.min.js: plotly.js with only the trace types the app's
// chart builders (app/*/charts.py) use. Run `npm ci && npm run build` in this folder (see README,
// "Plotly bundle"). Same esbuild settings as plotly.js's own esbuild-config.js (IIFE, global
// `Plotly`, `global` -> window), minus the GL/map plugins that these traces do not need.
import { build } from 'esbuild';
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants } from 'node:zlib';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Every "type" that app/*/charts.py emits (tests/test_platform.py checks the list stays complete).
export const TRACES = ['scatter', 'bar', 'heatmap', 'contour', 'scatterpolar'];

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const pkgDir = dirname(require.resolve('plotly.js/package.json'));
const version = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
const vendor = join(here, '..', '..', 'static', 'vendor');
const outfile = join(vendor, 'plotly-axisboard.min.js');
const entry = join(here, 'entry.generated.js');

writeFileSync(entry, [
  "'use strict';",
  "var Plotly = require('plotly.js/lib/core');",
  `Plotly.register([${TRACES.filter((t) => t !== 'scatter').map((t) => `require('plotly.js/lib/${t}')`).join(', ')}]);`,
  'module.exports = Plotly;',
  '',
].join('\n'));

await build({
  entryPoints: [entry],
  outfile,
  format: 'iife',
  globalName: 'Plotly',
  bundle: true,
  minify: true,
  legalComments: 'none',
  target: 'es2016',
  define: { global: 'window', 'define.amd': 'false' },
  alias: { stream: 'stream-browserify' },
  loader: { '.css': 'empty' }, // maplibre's stylesheet: map traces are not in this bundle
  banner: {
    js: `/*! plotly.js v${version} | partial bundle for Axisboard, traces: ${TRACES.join(', ')} | ` +
      '(c) Plotly Technologies Inc. | MIT licence, see plotly.js-LICENSE.txt | rebuilt by tools/plotly-bundle */',
  },
  logLevel: 'info',
});
// Brotli at its slowest, smallest setting once here, rather than at a quicker one in every server
// process (app/web/assets.py serves this sibling while it decompresses to the bundle's content).
writeFileSync(`${outfile}.br`, brotliCompressSync(readFileSync(outfile), {
  params: {
    [constants.BROTLI_PARAM_QUALITY]: 11,
    [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
  },
}));
copyFileSync(join(pkgDir, 'LICENSE'), join(vendor, 'plotly.js-LICENSE.txt'));
writeFileSync(join(vendor, 'plotly-axisboard.json'), JSON.stringify({
  package: 'plotly.js', version, licence: 'MIT', traces: TRACES,
  file: 'plotly-axisboard.min.js', bytes: statSync(outfile).size,
  brotli_bytes: statSync(`${outfile}.br`).size,
}, null, 2) + '\n');
console.log(`plotly.js ${version} (${TRACES.join(', ')}) -> ${outfile}: ${statSync(outfile).size} bytes, brotli ${statSync(`${outfile}.br`).size}`);
