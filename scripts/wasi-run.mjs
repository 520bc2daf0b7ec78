// scripts/wasi-run.mjs MODULE DIR ARGS...: runs a wasip1 command module
// (such as a test binary built with GOOS=wasip1 go test -c) in Node.js's
// V8 through node:wasi, with DIR mounted as / and ARGS as its arguments.
// filter/gowasm_bench_test.go uses it to time Go's wasm code in V8.
import { WASI } from 'node:wasi';
import { readFileSync } from 'node:fs';
import { argv } from 'node:process';

const [file, dir, ...args] = argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: [file, ...args], env: {}, preopens: { '/': dir }, returnOnExit: true });
const mod = await WebAssembly.compile(readFileSync(file));
const inst = await WebAssembly.instantiate(mod, wasi.getImportObject());
process.exit(wasi.start(inst));
