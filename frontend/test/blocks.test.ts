import assert from "node:assert/strict";
import { test } from "node:test";
import { blockGroups, blockSummary, estimateSectionHeight, isLargeModel, layerFilter, matchingLayers, namePrefix, nearViewport, worstStatus } from "../src/model/blocks";

/** Keras ResNet-50's layers with weights, in network order. */
export function kerasResNet50(): string[] {
  const out = ["conv1_conv", "conv1_bn"];
  for (const [stage, blocks] of [[2, 3], [3, 4], [4, 6], [5, 3]]) {
    for (let b = 1; b <= blocks; b++) {
      const p = `conv${stage}_block${b}`;
      if (b === 1) out.push(`${p}_0_conv`);
      out.push(`${p}_1_conv`, `${p}_1_bn`, `${p}_2_conv`, `${p}_2_bn`);
      if (b === 1) out.push(`${p}_0_bn`);
      out.push(`${p}_3_conv`, `${p}_3_bn`);
    }
  }
  out.push("predictions");
  return out;
}

/** torchvision ResNet-18's modules with parameters. */
export function torchResNet18(): string[] {
  const out = ["conv1", "bn1"];
  for (let s = 1; s <= 4; s++) {
    for (let b = 0; b < 2; b++) {
      const p = `layer${s}.${b}`;
      out.push(`${p}.conv1`, `${p}.bn1`, `${p}.conv2`, `${p}.bn2`);
      if (s > 1 && b === 0) out.push(`${p}.downsample.0`, `${p}.downsample.1`);
    }
  }
  out.push("fc");
  return out;
}

test("name prefixes split at / . and _", () => {
  assert.equal(namePrefix("conv2_block1_1_conv", 2), "conv2_block1");
  assert.equal(namePrefix("layer1.0.bn1", 2), "layer1.0");
  assert.equal(namePrefix("layer1.0.bn1", 5), "layer1.0.bn1");
  assert.equal(namePrefix("enc/layer_0/attn", 1), "enc");
});

test("Keras ResNet-50 falls into its residual blocks", () => {
  const layers = kerasResNet50();
  assert.equal(layers.length, 107);
  const blocks = blockGroups(layers);
  assert.deepEqual(
    blocks.map((b) => b.name),
    ["conv1", "conv2_block1", "conv2_block2", "conv2_block3", "conv3_block1", "conv3_block2", "conv3_block3", "conv3_block4",
     "conv4_block1", "conv4_block2", "conv4_block3", "conv4_block4", "conv4_block5", "conv4_block6",
     "conv5_block1", "conv5_block2", "conv5_block3", "predictions"],
  );
  assert.deepEqual(blocks.flatMap((b) => b.layers), layers);
  assert.equal(blocks[1].layers.length, 8);
});

test("torchvision ResNet-18 falls into layerN.M blocks; the stem's single layers are joined", () => {
  const blocks = blockGroups(torchResNet18());
  assert.deepEqual(
    blocks.map((b) => b.name),
    ["conv1 … bn1", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1", "fc"],
  );
  assert.deepEqual(blocks[0].layers, ["conv1", "bn1"]);
  assert.equal(blocks[3].layers.length, 6);
});

test("transformer blocks below a shared root", () => {
  const layers = ["bert/embeddings"];
  for (let k = 0; k < 4; k++) {
    for (const l of ["attention/self/query", "attention/self/key", "attention/self/value", "attention/output/dense", "intermediate/dense", "output/dense", "output/LayerNorm"]) {
      layers.push(`bert/encoder/layer_${k}/${l}`);
    }
  }
  layers.push("bert/pooler/dense");
  const names = blockGroups(layers).map((b) => b.name);
  assert.deepEqual(names, ["bert/embeddings", "bert/encoder/layer_0", "bert/encoder/layer_1", "bert/encoder/layer_2", "bert/encoder/layer_3", "bert/pooler/dense"]);
});

test("a small model is one block; large-model threshold", () => {
  assert.deepEqual(blockGroups(["a", "b", "c"]), [{ name: "a … c", layers: ["a", "b", "c"] }]);
  assert.deepEqual(blockGroups([]), []);
  assert.equal(isLargeModel(6), false);
  assert.equal(isLargeModel(107), true);
});

test("status summary: worst first, counted", () => {
  assert.equal(worstStatus(["ok", "tiny", "warning", null]), "warning");
  assert.equal(worstStatus([null]), null);
  assert.equal(blockSummary(3, 5, ["ok", "warning", "warning"]), "3 layers · 5 tensors · \u26A0\uFE0E warning (2)");
  assert.equal(blockSummary(1, 1, [null]), "1 layer · 1 tensor");
  assert.equal(blockSummary(2, 4, ["nan", "ok"]), "2 layers · 4 tensors · \u2716\uFE0E NaN/Inf");
});

test("filters: matching layers, a layer's own filter", () => {
  const m = new Map([["a", ["a/k"]], ["b.c", ["b.c/k", "b.c/b"]]]);
  assert.deepEqual(matchingLayers(m, /\/b$/), ["b.c"]);
  assert.deepEqual(matchingLayers(m, null), []);
  const f = new RegExp(layerFilter("b.c"));
  assert.ok(f.test("b.c/k") && !f.test("bxc/k") && !f.test("a/b.c/k"));
});

test("estimated heights and what is near the viewport", () => {
  assert.equal(estimateSectionHeight({ charts: false, grids: [], width: 600 }), 40);
  assert.ok(estimateSectionHeight({ charts: true, grids: [[64, 64]], width: 600 }) > 1000);
  assert.deepEqual(nearViewport([0, 1000, 5000], [900, 900, 900], 1200, 800, 500), [true, true, false]);
});
