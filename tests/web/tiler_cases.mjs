// Runs keras_enlca/web/static/tiler.js under node for tests/web/test_tiler.py.
// Reads JSON cases on stdin, prints JSON results: the tile grid and weights
// of each axis, and (for cases with `image`) the upscaled bytes of a fake
// model whose output depends on the position inside the tile, so that every
// overlap's blending shows in the result.
import {readFileSync} from 'node:fs';
import {axisPlan, planTiles, tileOverlap, upscaleImage} from '../../keras_enlca/web/static/tiler.js';

function fakeModel(tile, scale) {
  const [th, tw] = tile;
  const outH = th * scale;
  const outW = tw * scale;
  return {
    tile, scale,
    run: async (rgb) => {
      const out = new Float32Array(outH * outW * 3);
      for (let i = 0; i < outH; i++) {
        for (let j = 0; j < outW; j++) {
          const ramp = Math.fround((i + 2 * j) / (3 * outH * outW));
          for (let c = 0; c < 3; c++) {
            const v = Math.fround(rgb[(Math.floor(i / scale) * tw + Math.floor(j / scale)) * 3 + c] / 255);
            out[(i * outW + j) * 3 + c] = Math.fround(Math.fround(v * 0.5) + ramp);
          }
        }
      }
      return out;
    },
  };
}

const cases = JSON.parse(readFileSync(0, 'utf-8'));
const results = [];
for (const c of cases) {
  const [tileH, tileW] = c.tile;
  const result = {};
  try {
    const overlap = result.overlap = tileOverlap(tileH, tileW, c.overlap);
    const rows = axisPlan(c.height, tileH, overlap, c.scale);
    const cols = axisPlan(c.width, tileW, overlap, c.scale);
    result.rows = {starts: rows.starts, size: rows.size, weights: rows.weights.map((w) => Array.from(w))};
    result.cols = {starts: cols.starts, size: cols.size, weights: cols.weights.map((w) => Array.from(w))};
    result.tiles = planTiles(c.height, c.width, tileH, tileW, overlap, c.scale);
    if (c.image) {
      const rgba = new Uint8ClampedArray(c.height * c.width * 4);
      for (let p = 0; p < c.height * c.width; p++) {
        rgba.set(c.image.slice(p * 3, p * 3 + 3), p * 4);
        rgba[p * 4 + 3] = 255;
      }
      const progress = [];
      const out = await upscaleImage({width: c.width, height: c.height, data: rgba},
          fakeModel([tileH, tileW], c.scale),
          {overlap: c.overlap, onProgress: (done, total) => progress.push([done, total])});
      result.output = Array.from(out.data);
      result.progress = progress;
    }
  } catch (error) {
    result.error = error.message;
  }
  results.push(result);
}
process.stdout.write(JSON.stringify(results));
