import * as core from '@x/core';
import { CloseTimeoutError, ClosedError, InvalidArgumentError, ParallelConsumer, XError, isXError } from '../src/index.js';

it('re-exports the errors it throws: the same classes as @x/core, so instanceof works without installing it', () => {
  expect([XError, isXError, InvalidArgumentError, ClosedError, CloseTimeoutError]).toEqual([core.XError, core.isXError, core.InvalidArgumentError, core.ClosedError, core.CloseTimeoutError]);
  expect(() => new ParallelConsumer({} as never)).toThrow(InvalidArgumentError);
});
