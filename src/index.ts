// The action's entry point. Everything lives in run(); this file only calls it (actions/typescript-action style).
import { run } from './action.js';

await run();
