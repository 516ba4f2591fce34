import assert from "node:assert/strict";
import { test } from "node:test";
import { animationSteps, sharedRange } from "../src/model/animation";

test("an animation has one frame per logged step, but the first for a change since the previous step", () => {
  assert.deepEqual(animationSteps([0, 10, 20], "none"), [0, 10, 20]);
  assert.deepEqual(animationSteps([0, 10, 20], "first"), [0, 10, 20]);
  assert.deepEqual(animationSteps([0, 10, 20], "prev"), [10, 20]);
  assert.deepEqual(animationSteps([5], "prev"), []);
});

test("the frames share the widest range; frames without finite values add nothing", () => {
  assert.equal(sharedRange([{ min: -0.2, max: 0.1 }, { min: -0.05, max: 0.3 }, { min: null, max: null }]), 0.3);
  assert.equal(sharedRange([]), 0);
  assert.equal(sharedRange([{ min: -Infinity, max: 2 }]), 2);
});
