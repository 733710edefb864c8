// Any-size super-resolution in the browser over a fixed-shape LiteRT export.
//
// The same tile grid, overlap and blending rule as the Python tiler
// (keras_enlca/inference/tiling.py): tiles of the model's input shape spread
// evenly with at least `overlap` LR pixels shared, linear ramps across the
// middle half of each overlap, weights normalised per pixel, float32
// accumulation in the same order, and the MATLAB 8-bit rounding
// (floor(x * 255 + 0.5)). Fed the same tile outputs, it gives the same bytes.
//
// Nothing here imports LiteRT.js: `liteRtTileModel(model, Tensor)` wraps a
// compiled LiteRT.js model, and `upscaleImage` takes any async tile function,
// so the module also runs under node (the project's tests do).
//
//   import {loadLiteRt, loadAndCompile, Tensor} from '@litertjs/core';
//   import {liteRtTileModel, upscaleImage} from './tiler.js';
//   await loadLiteRt('/litertjs/core/wasm/');
//   const compiled = await loadAndCompile('/model.tflite', {accelerator: 'wasm'});
//   const model = liteRtTileModel(compiled, Tensor);
//   const bitmap = await createImageBitmap(file);
//   const sr = await upscaleImage(imageToRgba(bitmap), model, {
//     onProgress: (done, total) => console.log(`${done}/${total} tiles`)});
//   canvas.getContext('2d').putImageData(new ImageData(sr.data, sr.width), 0, 0);

export const DEFAULT_OVERLAP = 32; // LR pixels, as tiling.DEFAULT_OVERLAP

/** A clear, user-facing error (the page shows its message as is). */
export class TilerError extends Error {
  constructor(message) {
    super(message);
    this.name = 'TilerError';
  }
}

/** The overlap for a tile: `tiling.tile_settings(tile, overlap, min_tile=1)`. */
export function tileOverlap(tileHeight, tileWidth, overlap = null) {
  const side = Math.min(tileHeight, tileWidth);
  if (!(side >= 1)) throw new TilerError(`tile must be >= 1, got ${side}`);
  if (overlap === null || overlap === undefined) {
    return Math.min(DEFAULT_OVERLAP, Math.floor((side - 1) / 2));
  }
  if (overlap < 0 || 2 * overlap >= side) {
    throw new TilerError(
        `overlap ${overlap}: must be >= 0 and smaller than half the tile`);
  }
  return overlap;
}

// Python's round(): half to even.
function roundHalfEven(value) {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Tile starts along one axis: `tiling.tile_starts` (numpy.linspace, round). */
export function tileStarts(length, tile, overlap) {
  if (length <= tile) return [0];
  const count = Math.max(Math.ceil((length - overlap) / (tile - overlap)), 2);
  const stop = length - tile;
  const step = stop / (count - 1);
  const starts = [];
  for (let i = 0; i < count - 1; i++) starts.push(roundHalfEven(i * step));
  starts.push(stop);
  return starts;
}

/** 1-D blend weights of one tile's output: `tiling.ramp_weights`. */
export function rampWeights(size, overlap, rampStart, rampEnd) {
  const weights = new Float64Array(size).fill(1);
  if (overlap <= 0) return weights;
  const margin = overlap / 4;
  const width = overlap / 2;
  const clip = (v) => Math.min(Math.max(v, 0), 1);
  for (let i = 0; i < size; i++) {
    const center = i + 0.5;
    if (rampStart) weights[i] *= clip((center - margin) / width);
    if (rampEnd) weights[i] *= clip((size - center - margin) / width);
  }
  return weights;
}

/** Tiles along one axis: starts, tile length, normalised float32 weights. */
export function axisPlan(length, tile, overlap, scale) {
  const size = Math.min(tile, length);
  const starts = tileStarts(length, size, overlap);
  const outSize = size * scale;
  const total = new Float64Array(length * scale);
  const weights = starts.map((start, i) => {
    const w = rampWeights(outSize, overlap * scale, i > 0, i < starts.length - 1);
    for (let j = 0; j < outSize; j++) total[start * scale + j] += w[j];
    return w;
  });
  if (total.some((v) => v <= 0)) {
    throw new TilerError(
        `Tiling ${length} pixels with tile ${tile} and overlap ${overlap} ` +
        'leaves pixels without weight; use a larger tile or a smaller overlap');
  }
  const normalised = starts.map((start, i) => Float32Array.from(
      weights[i], (w, j) => w / total[start * scale + j]));
  return {starts, size, weights: normalised};
}

/** The tiles of an image: `TiledUpscaler.plan`, `[y, x, tileH, tileW]` each. */
export function planTiles(height, width, tileHeight, tileWidth, overlap, scale) {
  const rows = axisPlan(height, tileHeight, overlap, scale);
  const cols = axisPlan(width, tileWidth, overlap, scale);
  const tiles = [];
  for (const y of rows.starts) {
    for (const x of cols.starts) tiles.push([y, x, rows.size, cols.size]);
  }
  return tiles;
}

// numpy.pad(mode="symmetric") index for position i of an axis of length n.
function mirror(i, n) {
  const m = i % (2 * n);
  return m < n ? m : 2 * n - 1 - m;
}

/**
 * The RGB bytes of one model input: the LR crop at (y, x) of size
 * (height, width), mirror-padded at the bottom and right to the model's
 * (tileHeight, tileWidth) like `TiledUpscaler(fixed_tile_shape=True)`.
 */
export function tileInput(image, y, x, height, width, tileHeight, tileWidth) {
  const rgb = new Uint8Array(tileHeight * tileWidth * 3);
  for (let i = 0; i < tileHeight; i++) {
    const row = (y + mirror(i, height)) * image.width;
    for (let j = 0; j < tileWidth; j++) {
      const src = (row + x + mirror(j, width)) * 4;
      const dst = (i * tileWidth + j) * 3;
      rgb[dst] = image.data[src];
      rgb[dst + 1] = image.data[src + 1];
      rgb[dst + 2] = image.data[src + 2];
    }
  }
  return rgb;
}

// to_uint8 of float32 values: clip, x255 and floor(x + 0.5), all in float32.
function toByte(value) {
  const clipped = Math.min(Math.max(value, 0), 1);
  return Math.floor(Math.fround(Math.fround(clipped * 255) + 0.5));
}

function flushRows(out, band, bandStart, first, stop, outWidth) {
  for (let r = first; r < stop; r++) {
    let src = (r - bandStart) * outWidth * 3;
    let dst = r * outWidth * 4;
    for (let c = 0; c < outWidth; c++, src += 3, dst += 4) {
      out[dst] = toByte(band[src]);
      out[dst + 1] = toByte(band[src + 1]);
      out[dst + 2] = toByte(band[src + 2]);
      out[dst + 3] = 255;
    }
  }
}

function addWeighted(band, tileOut, plan, top, left, wy, wx) {
  const {outTileWidth, cropHeight, cropWidth, outWidth} = plan;
  for (let i = 0; i < cropHeight; i++) {
    const rowWeight = wy[i];
    let src = i * outTileWidth * 3;
    let dst = ((top + i) * outWidth + left) * 3;
    for (let j = 0; j < cropWidth; j++) {
      const w = wx[j];
      for (let c = 0; c < 3; c++, src++, dst++) {
        // float32 products and sums, in the Python tiler's order
        band[dst] += Math.fround(Math.fround(tileOut[src] * rowWeight) * w);
      }
    }
  }
}

/**
 * The output bytes an image of `height` x `width` needs (RGBA result plus
 * the float32 band of one row of tiles), for a memory budget check before
 * any work.
 */
export function upscaleBytes(height, width, model) {
  const tileHeight = model.tile[0];
  const s = model.scale;
  const band = (Math.min(tileHeight, height) * 2) * s * width * s * 3 * 4;
  return height * s * width * s * 4 + band + height * width * 4;
}

/**
 * Upscale an RGBA image of any size with a fixed-shape tile model.
 *
 * @param image `{width, height, data}`: RGBA bytes (an `ImageData` or alike).
 * @param model `{tile: [h, w], scale, run(rgbBytes) -> Promise<Float32Array>}`:
 *     `run` takes the (h, w, 3) RGB bytes of one tile and resolves to its
 *     (h * scale, w * scale, 3) output in [0, 1] (see `liteRtTileModel`).
 * @param options `{overlap, onProgress(done, total), signal}`.
 * @return `{width, height, data}`: the upscaled RGBA bytes (alpha 255).
 */
export async function upscaleImage(image, model, options = {}) {
  const [tileHeight, tileWidth] = model.tile;
  const s = model.scale;
  const overlap = tileOverlap(tileHeight, tileWidth, options.overlap);
  const rows = axisPlan(image.height, tileHeight, overlap, s);
  const cols = axisPlan(image.width, tileWidth, overlap, s);
  const [ys, th, xs, tw] = [rows.starts, rows.size, cols.starts, cols.size];
  const outWidth = image.width * s;
  const outHeight = image.height * s;
  const out = new Uint8ClampedArray(outWidth * outHeight * 4);
  let carryMax = 0;
  for (let i = 1; i < ys.length; i++) carryMax = Math.max(carryMax, ys[i - 1] + th - ys[i]);
  const band = new Float32Array((th + carryMax) * s * outWidth * 3);
  const plan = {outTileWidth: tileWidth * s, cropHeight: th * s, cropWidth: tw * s, outWidth};
  const total = ys.length * xs.length;
  let done = 0;
  let bandStart = 0;
  for (let row = 0; row < ys.length; row++) {
    const y = ys[row];
    for (let col = 0; col < xs.length; col++) {
      if (options.signal && options.signal.aborted) throw new TilerError('cancelled');
      const input = tileInput(image, y, xs[col], th, tw, tileHeight, tileWidth);
      const tileOut = await model.run(input);
      const expected = tileHeight * s * tileWidth * s * 3;
      if (tileOut.length !== expected) {
        throw new TilerError(
            `The model returned ${tileOut.length} values for a tile, ` +
            `expected ${expected} (${tileHeight * s}x${tileWidth * s}x3)`);
      }
      addWeighted(band, tileOut, plan, y * s - bandStart, xs[col] * s,
                  rows.weights[row], cols.weights[col]);
      done += 1;
      if (options.onProgress) options.onProgress(done, total);
      // A tile runs synchronously inside WASM: give the page a turn to
      // paint the progress and answer clicks between tiles.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    // Rows above the next row of tiles are final: write them out and move
    // the unfinished rows to the top of the band.
    const finished = row + 1 < ys.length ? ys[row + 1] * s : outHeight;
    flushRows(out, band, bandStart, bandStart, finished, outWidth);
    const carry = (y + th) * s - finished;
    const rowValues = outWidth * 3;
    if (carry > 0) {
      const from = (finished - bandStart) * rowValues;
      band.copyWithin(0, from, from + carry * rowValues);
    }
    band.fill(0, Math.max(carry, 0) * rowValues);
    bandStart = finished;
  }
  return {width: outWidth, height: outHeight, data: out};
}

/**
 * A tile model for `upscaleImage` from a compiled LiteRT.js model.
 *
 * The tile is the model's fixed input shape (read from the .tflite); a
 * model with a dynamic input shape (`[1, -1, -1, 3]`, exported for cpu)
 * cannot run in LiteRT.js and is refused with a message saying so. uint8
 * inputs get the bytes, float32 inputs the bytes / 255; uint8 outputs are
 * divided by 255, float32 outputs clipped to [0, 1] (as the Python runner).
 *
 * @param compiled a LiteRT.js `CompiledModel` (`loadAndCompile(...)`).
 * @param Tensor the `Tensor` class of `@litertjs/core`.
 */
export function liteRtTileModel(compiled, Tensor) {
  const inputs = compiled.getInputDetails();
  const outputs = compiled.getOutputDetails();
  if (inputs.length !== 1 || outputs.length !== 1) {
    throw new TilerError('expected a model with one input and one output tensor');
  }
  const inShape = Array.from(inputs[0].shape);
  const outShape = Array.from(outputs[0].shape);
  if (inShape.length !== 4 || inShape[3] !== 3) {
    throw new TilerError(`expected an NHWC RGB input, got shape [${inShape}]`);
  }
  if (inShape.slice(1, 3).some((d) => d < 1)) {
    throw new TilerError(
        `this model takes any image size (input [${inShape}]): LiteRT.js ` +
        'cannot resize an input, so it needs a fixed-shape export; export ' +
        'one with `enlca export MODEL.keras --target web -o MODEL_web.tflite` ' +
        '(or `--input-size 128 128`)');
  }
  const scale = outShape[1] / inShape[1];
  if (!Number.isInteger(scale) || scale < 1 || outShape[2] !== inShape[2] * scale) {
    throw new TilerError(
        `input [${inShape}] and output [${outShape}] give no integer scale`);
  }
  const dtype = inputs[0].dtype;
  if (dtype !== 'uint8' && dtype !== 'float32') {
    throw new TilerError(`unsupported input type ${dtype} (expected uint8 or float32)`);
  }
  const shape = [1, inShape[1], inShape[2], 3];
  async function run(rgb) {
    const feed = dtype === 'uint8' ? rgb : Float32Array.from(rgb, (v) => v / 255);
    const input = new Tensor(feed, shape);
    let results;
    try {
      results = await compiled.run([input]);
    } finally {
      input.delete();
    }
    try {
      const values = await results[0].data();
      if (values instanceof Uint8Array) {
        return Float32Array.from(values, (v) => Math.fround(v / 255));
      }
      return Float32Array.from(values, (v) => Math.min(Math.max(v, 0), 1));
    } finally {
      for (const tensor of results) tensor.delete();
    }
  }
  return {tile: [inShape[1], inShape[2]], scale, dtype, run};
}

/** The RGBA bytes of an `ImageBitmap` (or image), through a canvas. */
export function imageToRgba(bitmap) {
  const canvas = typeof OffscreenCanvas !== 'undefined' ?
      new OffscreenCanvas(bitmap.width, bitmap.height) :
      Object.assign(document.createElement('canvas'),
                    {width: bitmap.width, height: bitmap.height});
  const context = canvas.getContext('2d', {willReadFrequently: true});
  context.drawImage(bitmap, 0, 0);
  return context.getImageData(0, 0, bitmap.width, bitmap.height);
}
