import * as core from '@x/core';
import { InvalidArgumentError, TimeoutError, XError, isXError } from '../src/index.js';

it('re-exports the errors it throws: the same classes as @x/core, so instanceof works without installing it', () => {
  expect([XError, isXError, InvalidArgumentError, TimeoutError]).toEqual([core.XError, core.isXError, core.InvalidArgumentError, core.TimeoutError]);
});
