// scripts/v8host.mjs SPEC: times requests through proxy-wasm modules in
// Node.js's V8, for filter/v8_bench_test.go (BenchmarkV8Request).
//
// It is a timing model, not a proxy: it carries out the host calls a
// request of the benchmark makes (headers, properties, shared data,
// metrics, logs, filter state, local replies) the way cpp-host answers them
// (internal/testing/cpphost is the reference model; its tests pin the
// semantics), with V8 configured as cpp-host configures it (the caller
// passes --no-liftoff: src/v8/v8.cc at 52a02917). WASI comes from node:wasi.
// Calls the benchmark never makes (HTTP calls, queues, foreign functions)
// fail loudly.
//
// SPEC is a JSON file: {"modules": {name: path}, "configuration": string,
// "properties": {path: base64}, "cases": [{"name", "headers": [[k, v]],
// "status", "path"}], "blocks": N, "block": M}. For every case it checks
// each module's answer (status, forwarded :path), then runs the modules in
// turns, M requests per turn, N turns, and prints one JSON line per case:
// {"case", "us": {name: median µs per request}}; with "hostTime": true
// also "host_us", the time spent in this host's functions (timed, so
// slower), per module.
import { WASI } from 'node:wasi';
import { readFileSync } from 'node:fs';
import { argv } from 'node:process';

const spec = JSON.parse(readFileSync(argv[2], 'utf8'));
const enc = new TextEncoder();
const dec = new TextDecoder();
const OK = 0, NOT_FOUND = 1, CAS_MISMATCH = 8;
const ENOSYS = 52; // WASI errno
const ROOT = 1;

class VM {
  constructor(name, path) {
    this.name = name;
    this.shared = new Map(); // key -> {value: Uint8Array, cas}
    this.metrics = [];
    this.logs = 0;
    this.props = new Map(Object.entries(spec.properties).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
    this.nextID = 2;
    const wasi = new WASI({ version: 'preview1', args: [name], env: {}, returnOnExit: true });
    const module = new WebAssembly.Module(readFileSync(path));
    const imports = wasi.getImportObject();
    // Envoy gives the module no poll_oneoff (the runtime overlay,
    // tools/pollpatch, handles its ENOSYS): a sleeping runtime would stall
    // the worker, so neither does this host.
    imports.wasi_snapshot_preview1 = { ...imports.wasi_snapshot_preview1, poll_oneoff: () => ENOSYS };
    let env = this.env();
    if (spec.hostTime) {
      // Every host call timed, so that the host's own share can be taken
      // out: the timing costs a little of its own, counted in hostNs.
      this.hostNs = 0n;
      env = Object.fromEntries(Object.entries(env).map(([k, f]) => [k, (...a) => {
        const t = process.hrtime.bigint();
        try { return f(...a); } finally { this.hostNs += process.hrtime.bigint() - t; }
      }]));
    }
    this.instance = new WebAssembly.Instance(module, { ...imports, env });
    this.x = this.instance.exports;
    wasi.initialize(this.instance);
    this.x.proxy_on_context_create(ROOT, 0);
    this.cur = ROOT;
    if (!this.x.proxy_on_vm_start(ROOT, 0)) throw new Error(`${name}: vm start failed`);
    this.config = enc.encode(spec.configuration);
    if (!this.x.proxy_on_configure(ROOT, this.config.length)) throw new Error(`${name}: configuration refused`);
    this.config = null;
  }

  u8() { return new Uint8Array(this.x.memory.buffer); }
  dv() { return new DataView(this.x.memory.buffer); }
  str(ptr, len) { return dec.decode(this.u8().subarray(ptr, ptr + len)); }
  bytes(ptr, len) { return this.u8().slice(ptr, ptr + len); }

  // give copies data into memory the module allocates
  // (proxy_on_memory_allocate) and writes its address and size out.
  give(data, ptrOut, sizeOut) {
    const p = data.length === 0 ? 0 : this.x.proxy_on_memory_allocate(data.length);
    if (data.length) this.u8().set(data, p);
    const dv = this.dv();
    dv.setUint32(ptrOut, p, true);
    dv.setUint32(sizeOut, data.length, true);
    return OK;
  }

  map(type) {
    if (this.cur === ROOT) return null;
    return type === 0 ? this.reqHeaders : type === 2 ? this.respHeaders : null;
  }

  env() {
    const vm = this;
    const unsupported = (name) => () => { throw new Error(`${vm.name}: ${name} is not modelled`); };
    return {
      proxy_log: (level, ptr, len) => { vm.logs++; vm.lastLog = vm.str(ptr, len); return OK; },
      proxy_get_property: (ptr, len, out, outLen) => {
        const path = vm.str(ptr, len).split('\0').filter((s) => s).join('.');
        const v = vm.props.get(path);
        return v === undefined ? NOT_FOUND : vm.give(v, out, outLen);
      },
      proxy_set_property: (ptr, len, vptr, vlen) => { vm.state = vm.bytes(vptr, vlen); return OK; },
      proxy_get_buffer_bytes: (type, start, len, out, outLen) => {
        if (type !== 7 || !vm.config) return NOT_FOUND;
        return vm.give(vm.config.subarray(start, start + len), out, outLen);
      },
      proxy_set_buffer_bytes: unsupported('proxy_set_buffer_bytes'),
      proxy_get_header_map_pairs: (type, out, outLen) => {
        const m = vm.map(type);
        if (!m) return NOT_FOUND;
        const kv = m.map(([k, v]) => [enc.encode(k), enc.encode(v)]);
        let size = 4 + 8 * kv.length;
        for (const [k, v] of kv) size += k.length + v.length + 2;
        const b = new Uint8Array(size);
        const dv = new DataView(b.buffer);
        dv.setUint32(0, kv.length, true);
        let o = 4 + 8 * kv.length;
        kv.forEach(([k, v], i) => {
          dv.setUint32(4 + 8 * i, k.length, true);
          dv.setUint32(8 + 8 * i, v.length, true);
          b.set(k, o); o += k.length + 1;
          b.set(v, o); o += v.length + 1;
        });
        return vm.give(b, out, outLen);
      },
      proxy_set_header_map_pairs: unsupported('proxy_set_header_map_pairs'),
      proxy_get_header_map_value: (type, kp, kl, out, outLen) => {
        const m = vm.map(type);
        if (!m) return NOT_FOUND;
        const k = vm.str(kp, kl).toLowerCase();
        const h = m.find(([n]) => n === k);
        return h ? vm.give(enc.encode(h[1]), out, outLen) : NOT_FOUND;
      },
      proxy_replace_header_map_value: (type, kp, kl, vp, vl) => {
        const m = vm.map(type);
        if (!m) return NOT_FOUND;
        const k = vm.str(kp, kl).toLowerCase(), v = vm.str(vp, vl);
        const i = m.findIndex(([n]) => n === k);
        if (i < 0) m.push([k, v]); else { m[i] = [k, v]; for (let j = m.length - 1; j > i; j--) if (m[j][0] === k) m.splice(j, 1); }
        return OK;
      },
      proxy_add_header_map_value: (type, kp, kl, vp, vl) => {
        const m = vm.map(type);
        if (!m) return NOT_FOUND;
        m.push([vm.str(kp, kl).toLowerCase(), vm.str(vp, vl)]);
        return OK;
      },
      proxy_remove_header_map_value: (type, kp, kl) => {
        const m = vm.map(type);
        if (!m) return NOT_FOUND;
        const k = vm.str(kp, kl).toLowerCase();
        for (let j = m.length - 1; j >= 0; j--) if (m[j][0] === k) m.splice(j, 1);
        return OK;
      },
      proxy_get_shared_data: (kp, kl, out, outLen, casOut) => {
        const e = vm.shared.get(vm.str(kp, kl));
        if (!e) return NOT_FOUND;
        vm.give(e.value, out, outLen);
        vm.dv().setUint32(casOut, e.cas, true);
        return OK;
      },
      proxy_set_shared_data: (kp, kl, vp, vl, cas) => {
        const k = vm.str(kp, kl);
        const e = vm.shared.get(k);
        if (cas !== 0 && e && e.cas !== cas) return CAS_MISMATCH;
        vm.shared.set(k, { value: vm.bytes(vp, vl), cas: e ? e.cas + 1 : 1 });
        return OK;
      },
      proxy_send_local_response: (status, dp, dl, bp, bl, hp, hl) => {
        vm.local = { status, body: vm.bytes(bp, bl), headers: vm.bytes(hp, hl) };
        return OK;
      },
      proxy_define_metric: (type, np, nl, out) => {
        vm.metrics.push(0n);
        vm.dv().setUint32(out, vm.metrics.length, true);
        return OK;
      },
      proxy_increment_metric: (id, off) => { if (!id || id > vm.metrics.length) return NOT_FOUND; vm.metrics[id - 1] += off; return OK; },
      proxy_record_metric: (id, v) => { if (!id || id > vm.metrics.length) return NOT_FOUND; vm.metrics[id - 1] = v; return OK; },
      proxy_get_metric: (id, out) => {
        if (!id || id > vm.metrics.length) return NOT_FOUND;
        vm.dv().setBigUint64(out, BigInt.asUintN(64, vm.metrics[id - 1]), true);
        return OK;
      },
      proxy_set_tick_period_milliseconds: () => OK,
      proxy_set_effective_context: (id) => { vm.cur = id; return OK; },
      proxy_continue_stream: () => OK,
      proxy_close_stream: () => OK,
      proxy_done: () => OK,
      proxy_http_call: unsupported('proxy_http_call'),
      proxy_call_foreign_function: unsupported('proxy_call_foreign_function'),
      proxy_register_shared_queue: unsupported('proxy_register_shared_queue'),
      proxy_resolve_shared_queue: unsupported('proxy_resolve_shared_queue'),
      proxy_dequeue_shared_queue: unsupported('proxy_dequeue_shared_queue'),
      proxy_enqueue_shared_queue: unsupported('proxy_enqueue_shared_queue'),
    };
  }

  // request runs one request as cpphost's VM.Exchange does: context
  // creation, request headers, response headers (the local reply's when
  // the module answered), done, log, delete.
  request(headers) {
    const id = this.nextID++;
    this.cur = id;
    this.reqHeaders = headers.map(([k, v]) => [k.toLowerCase(), v]);
    this.respHeaders = [[':status', '200']];
    this.local = null;
    this.state = null;
    const x = this.x;
    x.proxy_on_context_create(id, ROOT);
    x.proxy_on_request_headers(id, this.reqHeaders.length, 1);
    let eos = 1;
    if (this.local) {
      this.respHeaders = [[':status', String(this.local.status)]];
      if (this.local.body.length) eos = 0;
    }
    x.proxy_on_response_headers(id, this.respHeaders.length, eos);
    x.proxy_on_done(id);
    x.proxy_on_log(id);
    x.proxy_on_delete(id);
    this.cur = ROOT;
    return { status: this.local ? this.local.status : 0, path: (this.reqHeaders.find(([k]) => k === ':path') || [])[1] };
  }
}

const vms = Object.entries(spec.modules).map(([name, path]) => new VM(name, path));
const median = (a) => { const s = [...a].sort((p, q) => p - q); return s[s.length >> 1]; };
for (const c of spec.cases) {
  for (const vm of vms) {
    if (vm.name === 'floor') continue;
    for (let i = 0; i < 2; i++) { // twice: a 429 needs its bucket used up
      const r = vm.request(c.headers);
      if (c.name !== '429' || i === 1) {
        if (r.status !== c.status || (c.path && r.path !== c.path)) {
          throw new Error(`${vm.name} ${c.name}: status ${r.status} path ${r.path}, want ${c.status} ${c.path}`);
        }
      }
    }
  }
  const us = Object.fromEntries(vms.map((vm) => [vm.name, []]));
  const host = Object.fromEntries(vms.map((vm) => [vm.name, []]));
  for (let n = 0; n < spec.blocks; n++) {
    const order = n % 2 === 0 ? vms : [...vms].reverse();
    for (const vm of order) {
      const h0 = vm.hostNs;
      const t = process.hrtime.bigint();
      for (let i = 0; i < spec.block; i++) vm.request(c.headers);
      us[vm.name].push(Number(process.hrtime.bigint() - t) / 1000 / spec.block);
      if (spec.hostTime) host[vm.name].push(Number(vm.hostNs - h0) / 1000 / spec.block);
    }
  }
  const medians = (m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, median(v)]));
  console.log(JSON.stringify({ case: c.name, us: medians(us), host_us: spec.hostTime ? medians(host) : undefined }));
}
