// The enlca web page: pick a model, drop photos, get them upscaled here.
//
// Everything runs in this tab: LiteRT.js (WASM with XNNPACK, threads and
// relaxed SIMD where the browser has them; WebGPU when there is an adapter)
// runs the fixed-shape .tflite tile by tile through ./tiler.js. The page
// fetches only from the server that sent it (its Content-Security-Policy
// says so). Every failure ends as a message on the page.

import {TilerError, imageToRgba, liteRtTileModel, upscaleBytes, upscaleImage}
  from './tiler.js';

const $ = (id) => document.getElementById(id);
// Chromium's canvas limits: a side and an area it refuses beyond.
const MAX_CANVAS_SIDE = 32767;
const MAX_CANVAS_AREA = 268435456;
const MIB = 1024 * 1024;

const state = {
  config: null, litert: null, runtime: null, model: null, modelName: null,
  loadedBackend: null, queue: Promise.resolve(), params: new URLSearchParams(location.search),
};
// For scripts and tests driving the page: what happened, in order.
window.enlca = {state, events: []};

function log(kind, detail) {
  window.enlca.events.push({kind, ...detail});
}

function showError(id, message) {
  const box = $(id);
  box.textContent = message;
  box.hidden = !message;
  if (message) log('error', {where: id, message});
}

function setStatus(id, message) {
  $(id).textContent = message;
}

window.addEventListener('error', (event) => showError('runtime-error',
    `Unexpected error: ${event.message}`));
window.addEventListener('unhandledrejection', (event) => showError('runtime-error',
    `Unexpected error: ${event.reason && event.reason.message || event.reason}`));

async function loadConfig() {
  const response = await fetch('/config.json', {cache: 'no-store'});
  if (!response.ok) throw new Error(`/config.json: HTTP ${response.status}`);
  return response.json();
}

function missingLiteRtMessage(config, detail) {
  return 'LiteRT.js is missing, so nothing can be upscaled yet.\n' +
      `${detail}\n` +
      'Then restart enlca web (from then on it works offline), or point ' +
      `enlca web --litertjs DIR at an existing npm install of ` +
      `@litertjs/core@${config.litertjs_expected}.`;
}

async function wasmFeatures(litert) {
  const [relaxedSimd, threads] = await Promise.all([
    litert.supportsFeature('relaxedSimd'), litert.supportsFeature('threads')]);
  return {relaxedSimd, threads: threads && relaxedSimd && self.crossOriginIsolated};
}

async function webGpuAdapter() {
  if (!navigator.gpu) return null;
  try {
    return await navigator.gpu.requestAdapter();
  } catch (error) {
    return null;
  }
}

function loadedWasmFile() {
  const files = performance.getEntriesByType('resource').map((e) => e.name)
      .filter((name) => name.endsWith('.wasm'));
  return files.length ? files[files.length - 1].split('/').pop() : 'unknown';
}

// (Re)load the LiteRT.js runtime for a backend: the threaded WASM build for
// the CPU, the JSPI build for WebGPU (ops WebGPU lacks fall back to WASM).
async function loadRuntime(backend) {
  const {litert, config} = state;
  if (state.loadedBackend === backend) return;
  if (state.loadedBackend !== null) litert.unloadLiteRt();
  const features = state.runtime.features;
  const options = backend === 'webgpu' ?
      {jspi: await litert.supportsFeature('jspi')} : {threads: features.threads};
  await litert.loadLiteRt(config.litertjs.wasm, options);
  state.loadedBackend = backend;
  state.runtime.file = loadedWasmFile();
  state.runtime.options = options;
}

function describeRuntime() {
  const {features, file, adapter, options} = state.runtime;
  let threads;
  if (options && options.jspi !== undefined) {
    threads = 'JSPI build for WebGPU (its CPU fallback runs on one thread)';
  } else if (features.threads) {
    threads = `threads on (cross-origin isolated, ${navigator.hardwareConcurrency} cores)`;
  } else {
    threads = `threads off (${self.crossOriginIsolated ?
        'the browser lacks WASM threads or relaxed SIMD' :
        'page not cross-origin isolated'})`;
  }
  return `LiteRT.js ${state.config.litertjs.version}: ${file}; ` +
      `relaxed SIMD ${features.relaxedSimd ? 'on' : 'off'}; ${threads}; ` +
      `WebGPU ${adapter ? 'available' : 'not available'}.`;
}

function fillControls() {
  const {config, runtime, params} = state;
  const models = $('model');
  models.replaceChildren(new Option('(choose a model)', ''));
  config.models.forEach((m, i) => {
    const meta = m.metadata || {};
    const label = [meta.network, meta.scale && `x${meta.scale}`, meta.quantize]
        .filter(Boolean).join(' ');
    models.add(new Option(label ? `${m.name} (${label})` : m.name, String(i)));
  });
  const threads = $('threads');
  const most = runtime.features.threads ? Math.max(1, navigator.hardwareConcurrency || 1) : 1;
  for (let n = 1; n <= most; n++) threads.add(new Option(String(n), String(n)));
  threads.value = String(Math.min(Number(params.get('threads')) || Math.min(most, 4), most));
  if (runtime.adapter) {
    const option = $('backend').options[1];
    option.disabled = false;
    option.textContent = 'WebGPU';
  }
  if (params.get('backend') === 'webgpu' && runtime.adapter) $('backend').value = 'webgpu';
  const wanted = params.get('model') ?? (config.models.length === 1 ? '0' : '');
  if (wanted && config.models[Number(wanted)]) models.value = wanted;
}

async function compileModel(source, name) {
  if (state.model && state.model.compiled && state.loadedBackend !== null) {
    state.model.compiled.delete();  // LiteRT.js memory is managed by hand
  }
  state.model = null;
  state.modelName = name;
  showError('model-error', '');
  const backend = $('backend').value;
  setStatus('model-status', `Loading ${name} for ${backend}…`);
  try {
    await loadRuntime(backend);
    setStatus('runtime-status', describeRuntime());
    let bytes = source;
    if (typeof source === 'string') {
      const response = await fetch(source);
      if (!response.ok) throw new Error(`HTTP ${response.status} for ${source}`);
      bytes = new Uint8Array(await response.arrayBuffer());
    }
    const options = {accelerator: backend};
    if (backend === 'wasm') options.cpuOptions = {numThreads: Number($('threads').value)};
    const compiled = await state.litert.loadAndCompile(bytes, options);
    const model = liteRtTileModel(compiled, state.litert.Tensor);
    model.compiled = compiled;
    state.model = model;
    const placement = backend === 'webgpu' && !compiled.isFullyAccelerated ?
        ' (some ops run on the CPU: WebGPU has no kernel for them)' : '';
    setStatus('model-status', `${name}: x${model.scale}, tile ` +
        `${model.tile[0]}x${model.tile[1]}, ${model.dtype} input, on ` +
        `${backend}${backend === 'wasm' ? ` with ${options.cpuOptions.numThreads} thread(s)` : ''}` +
        `${placement}. Drop photos below.`);
    log('model', {name, backend, tile: model.tile, scale: model.scale});
  } catch (error) {
    setStatus('model-status', '');
    const reason = error instanceof TilerError ? error.message :
        `LiteRT.js could not load it (${error.message || error})`;
    showError('model-error', `${name}: ${reason}.`);
  }
}

function selectedModelSource() {
  const value = $('model').value;
  if (value === '') return null;
  const entry = state.config.models[Number(value)];
  return [entry.url, entry.name];
}

async function reloadModel() {
  if (state.localModel) return compileModel(state.localModel.bytes, state.localModel.name);
  const source = selectedModelSource();
  if (source) return compileModel(...source);
  state.model = null;
  setStatus('model-status', 'Choose a model to start.');
}

// One result card per photo.
function newCard(name) {
  const card = document.createElement('article');
  card.className = 'card';
  card.dataset.state = 'queued';
  card.dataset.name = name;
  card.innerHTML = '<h2></h2><div class="info">Waiting…</div>' +
      '<progress max="1" value="0"></progress><div class="error" hidden></div>';
  card.querySelector('h2').textContent = name;
  $('results').prepend(card);
  return card;
}

function failCard(card, message) {
  card.dataset.state = 'error';
  card.querySelector('progress').remove();
  const box = card.querySelector('.error');
  box.textContent = message;
  box.hidden = false;
  card.querySelector('.info').textContent = 'Not upscaled.';
  log('error', {where: card.dataset.name, message});
}

function budgetProblem(name, bitmap, model) {
  const outWidth = bitmap.width * model.scale;
  const outHeight = bitmap.height * model.scale;
  const size = `${bitmap.width}x${bitmap.height} upscaled x${model.scale} is ${outWidth}x${outHeight}`;
  if (outWidth > MAX_CANVAS_SIDE || outHeight > MAX_CANVAS_SIDE ||
      outWidth * outHeight > MAX_CANVAS_AREA) {
    return `${name}: too large for this browser: ${size}, beyond what a ` +
        `canvas can hold (${MAX_CANVAS_SIDE} pixels a side). Crop or shrink it first.`;
  }
  // The tiler's buffers plus the result canvas and its PNG.
  const needed = upscaleBytes(bitmap.height, bitmap.width, model) + 2 * outWidth * outHeight * 4;
  const budget = state.config.memory_budget_mb * MIB;
  if (needed > budget) {
    return `${name}: too large for the page's memory budget: ${size} and needs ` +
        `about ${Math.ceil(needed / MIB)} MiB, over the ${state.config.memory_budget_mb} ` +
        'MiB budget. Use a smaller photo, or start enlca web with a larger --memory-budget.';
  }
  return null;
}

function comparison(beforeUrl, afterUrl, width, height) {
  const wrap = document.createElement('div');
  wrap.innerHTML = '<div class="compare"><img class="before" alt="before">' +
      '<img class="after" alt="after"><div class="divider"></div>' +
      '<span class="tag before">before</span><span class="tag after-tag">after</span></div>' +
      '<input class="slider" type="range" min="0" max="100" value="50" ' +
      'aria-label="Before/after position">';
  const [before, after] = wrap.querySelectorAll('img');
  before.src = beforeUrl;
  after.src = afterUrl;
  for (const img of [before, after]) {
    img.width = width;
    img.height = height;
  }
  const slider = wrap.querySelector('.slider');
  slider.addEventListener('input', () => {
    after.style.clipPath = `inset(0 0 0 ${slider.value}%)`;
    wrap.querySelector('.divider').style.left = `${slider.value}%`;
  });
  return wrap;
}

async function encodePng(result) {
  const canvas = new OffscreenCanvas(result.width, result.height);
  canvas.getContext('2d').putImageData(new ImageData(result.data, result.width), 0, 0);
  return canvas.convertToBlob({type: 'image/png'});
}

async function upscaleFile(file, card) {
  const info = card.querySelector('.info');
  const progress = card.querySelector('progress');
  let bitmap;
  try {
    bitmap = await createImageBitmap(file,
        {colorSpaceConversion: 'none', premultiplyAlpha: 'none'});
  } catch (error) {
    return failCard(card, `${file.name}: not an image this browser can decode ` +
        `(${file.type || 'unknown type'}); use PNG, JPEG, WebP, GIF, BMP or AVIF.`);
  }
  const model = state.model;
  if (!model) {
    bitmap.close();
    let why = 'choose a model above first';
    if (!state.litert) why = 'LiteRT.js is missing (see the message above)';
    else if (!$('model-error').hidden) why = 'the selected model cannot run here (see the message above)';
    return failCard(card, `${file.name}: no model to upscale with: ${why}.`);
  }
  const problem = budgetProblem(file.name, bitmap, model);
  if (problem) {
    bitmap.close();
    return failCard(card, problem);
  }
  card.dataset.state = 'running';
  const start = performance.now();
  const image = imageToRgba(bitmap);
  bitmap.close();
  let tiles = 0;
  const result = await upscaleImage(image, model, {onProgress: (done, total) => {
    tiles = total;
    progress.max = total;
    progress.value = done;
    info.textContent = `${image.width}x${image.height}: tile ${done}/${total}…`;
  }});
  const seconds = (performance.now() - start) / 1000;
  const blob = await encodePng(result);
  const afterUrl = URL.createObjectURL(blob);
  progress.remove();
  info.textContent = `${image.width}x${image.height} → ${result.width}x${result.height} ` +
      `(x${model.scale}) in ${seconds.toFixed(2)} s, ${tiles} tiles of ` +
      `${model.tile[0]}x${model.tile[1]}, with ${state.modelName}.`;
  card.append(comparison(URL.createObjectURL(file), afterUrl, result.width, result.height));
  const link = document.createElement('a');
  link.className = 'download';
  link.href = afterUrl;
  link.download = `${file.name.replace(/\.[^.]*$/, '')}_x${model.scale}.png`;
  link.textContent = `Download ${link.download}`;
  card.append(link);
  card.dataset.state = 'done';
  card.dataset.seconds = String(seconds);
  log('done', {name: file.name, seconds, width: result.width, height: result.height});
}

function addFiles(files) {
  for (const file of files) {
    if (/\.tflite$/i.test(file.name)) {
      state.queue = state.queue.then(async () => {
        state.localModel = {bytes: new Uint8Array(await file.arrayBuffer()), name: file.name};
        await reloadModel();
      });
      continue;
    }
    const card = newCard(file.name);
    state.queue = state.queue.then(() => upscaleFile(file, card)).catch((error) =>
      failCard(card, `${file.name}: ${error.message || error}`));
  }
  return state.queue;
}

function wireEvents() {
  $('photos').addEventListener('change', (e) => addFiles([...e.target.files]));
  $('model-file').addEventListener('change', (e) => addFiles([...e.target.files]));
  $('model').addEventListener('change', () => {
    state.localModel = null;
    state.queue = state.queue.then(reloadModel);
  });
  for (const id of ['backend', 'threads']) {
    $(id).addEventListener('change', () => { state.queue = state.queue.then(reloadModel); });
  }
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    addFiles([...e.dataTransfer.files]);
  });
}

async function main() {
  wireEvents();
  const config = state.config = await loadConfig();
  if (!config.litertjs) {
    setStatus('runtime-status', 'LiteRT.js: not installed.');
    showError('runtime-error', missingLiteRtMessage(config, config.litertjs_problem));
    $('setup').querySelectorAll('select, input').forEach((e) => { e.disabled = true; });
    $('photos').disabled = true;
    $('drop').classList.add('disabled');
    return;
  }
  try {
    state.litert = await import('@litertjs/core');
  } catch (error) {
    setStatus('runtime-status', 'LiteRT.js: failed to load.');
    showError('runtime-error', missingLiteRtMessage(config,
        `The browser could not load it (${error.message || error}); install ` +
        `it again with: ${config.install_command}`));
    return;
  }
  state.runtime = {features: await wasmFeatures(state.litert), adapter: await webGpuAdapter()};
  fillControls();
  state.queue = reloadModel().then(() => {
    if (state.runtime.file) setStatus('runtime-status', describeRuntime());
    else setStatus('runtime-status', `LiteRT.js ${config.litertjs.version} ready.`);
    document.body.dataset.ready = 'true';
    log('ready', {});
  });
}

main().catch((error) => showError('runtime-error',
    `The page could not start: ${error.message || error}`));
