import { Worker } from 'node:worker_threads';

/**
 * Starts a worker thread running a TypeScript file from this package's sources, so thread tests exercise the
 * same code as the rest of the suite without a build step. The bootstrap transpiles `.ts` on require and maps
 * NodeNext-style './x.js' imports to './x.ts'.
 */
export function startTsWorker(file: string, workerData: unknown): Worker {
  const bootstrap = `
    const ts = require('typescript');
    const fs = require('node:fs');
    const Module = require('node:module');
    require.extensions['.ts'] = (module, filename) => {
      const { outputText } = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
        fileName: filename,
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      });
      module._compile(outputText, filename);
    };
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, ...rest) {
      try {
        return resolve.call(this, request, ...rest);
      } catch (error) {
        if (request.startsWith('.') && request.endsWith('.js')) return resolve.call(this, request.slice(0, -3) + '.ts', ...rest);
        throw error;
      }
    };
    require(${JSON.stringify(file)});
  `;
  return new Worker(bootstrap, { eval: true, workerData });
}

/** Resolves with the worker's first message, rejects on its error or a non-zero exit before one. */
export function firstMessage<T>(worker: Worker): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited with code ${code} before replying`)));
  });
}
