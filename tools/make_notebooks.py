"""Write the example notebooks (without outputs) from the cell sources below.

Run ``python tools/make_notebooks.py`` after editing; the test suite executes them.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

PARAMETERS = """import os

# Parameters: point SMM_CHECKPOINT at a trained checkpoint (a folder written by save_pretrained, such as
# the demo's runs/demo, or a published .ckpt file) and every number and figure below becomes a real reading.
CHECKPOINT = os.environ.get("SMM_CHECKPOINT")"""

LOAD_MODEL = """def load_model(checkpoint):
    if checkpoint is None:
        return smm.SMMEmotionNet.abaw3(pretrained_backbone=False), False
    if checkpoint.endswith(".ckpt"):
        return smm.load_reference_checkpoint(checkpoint), True
    return smm.load_checkpoint(checkpoint), True


model, trained = load_model(CHECKPOINT)
transform = eval_transform(model.data_config)  # the model's own preprocessing (299x299, ImageNet mean/std)
if not trained:
    print("RANDOM WEIGHTS: the numbers below show the mechanics, not predictions. Set SMM_CHECKPOINT for real ones.")
    # Random BatchNorm statistics give activations of arbitrary scale; set them from crops of the face.
    crops = torch.stack([transform(TF.resized_crop(face, i, j, 150, 150, [299, 299]))
                         for i in range(0, 40, 10) for j in range(0, 40, 20)])
    update_bn([crops], model)
model = model.eval()"""

LOAD_TEXT = (
    "Without a checkpoint the weights are random. Their BatchNorm statistics are then set from crops of the\n"
    "face with PyTorch's `torch.optim.swa_utils.update_bn`, so that the outputs keep a readable scale; a\n"
    "trained checkpoint needs none of this."
)

IMPORTS = (
    "import torch\n"
    "import torchvision.transforms.functional as TF\n"
    "from torch.optim.swa_utils import update_bn\n\n"
    "import smm\n"
    "from smm.data import eval_transform\n\n"
    "torch.manual_seed(0)"
)

FACE = """from skimage import data
from PIL import Image

face = Image.fromarray(data.astronaut()[30:220, 160:350])  # a real face shipped with scikit-image
face"""

QUICKSTART = [
    new_markdown_cell(
        "# Quickstart: SMM-EmotionNet on one face\n\n"
        "Build the published ABAW3 configuration, run it on a real face and read every output.\n"
        "The weights here are random (`pretrained_backbone=False`, no checkpoint), so the numbers are\n"
        "placeholders. Set the environment variable `SMM_CHECKPOINT` to a trained checkpoint (a folder from\n"
        "`save_pretrained`, or a published `.ckpt`) before starting Jupyter, or edit the parameter cell, and the\n"
        "same code gives real predictions."
    ),
    new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
    new_code_cell(IMPORTS),
    new_code_cell(FACE),
    new_markdown_cell(LOAD_TEXT),
    new_code_cell(LOAD_MODEL),
    new_markdown_cell(
        "The published model expects 299x299 crops normalised with the ImageNet mean and standard deviation.\n"
        "The model carries that preprocessing in `model.data_config`, and `eval_transform` applies it."
    ),
    new_code_cell(
        "print(model.data_config)\n"
        "images = transform(face).unsqueeze(0)  # (1, 3, 299, 299)\n"
        "with torch.no_grad():\n"
        "    out = model(images)\n"
        "{name: tuple(value.shape) for name, value in out._asdict().items()}"
    ),
    new_markdown_cell(
        "## Action units (sign vehicles)\n\n"
        "`out.au` holds **logits**, one per labelled AU, in the order of `model.au_names`. The sigmoid turns\n"
        "them into occurrence probabilities; the ABAW metric thresholds those at 0.5."
    ),
    new_code_cell(
        "au_probability = torch.sigmoid(out.au[0])\n"
        "for name, p in zip(model.au_names, au_probability.tolist()):\n"
        "    print(f\"{name:>5}: {p:.3f} {'active' if p > 0.5 else ''}\")"
    ),
    new_markdown_cell(
        "## Expression (message)\n\n"
        "`out.expr` holds **logits** over the 8 ABAW classes (`model.expression_names`); the softmax gives\n"
        "class probabilities and the argmax the predicted expression."
    ),
    new_code_cell(
        "expr_probability = torch.softmax(out.expr[0], dim=-1)\n"
        "for name, p in zip(model.expression_names, expr_probability.tolist()):\n"
        '    print(f"{name:>10}: {p:.3f}")\n'
        "print('predicted:', model.expression_names[int(expr_probability.argmax())])"
    ),
    new_markdown_cell(
        "## Valence and arousal (message)\n\n"
        "Valence (unpleasant to pleasant) and arousal (calm to excited) are annotated in [-1, 1]. The model\n"
        "returns raw linear outputs, as the published code does; clamp them for a bounded prediction."
    ),
    new_code_cell(
        "valence, arousal = out.va[0].clamp(-1, 1).tolist()\nprint(f'valence {valence:+.3f}, arousal {arousal:+.3f}')"
    ),
    new_markdown_cell(
        "## Intermediate outputs\n\n"
        "- `out.attention` `(1, 17, 17, 17)`: one attention map per facial region (sigmoid, in (0, 1)),\n"
        "  `model.region_names` gives their AU names; `out.attention_logits` the per-region logits.\n"
        "- `out.region_features` `(1, 17, 16)`: the ROI embeddings `f_u`.\n"
        "- `out.au_features` `(1, 12, 16)`: each AU's vector in its sign-vehicle space.\n"
        "- `out.message` `(1, 16)`: the consensus in the message space, from which `expr` and `va` are read."
    ),
    new_code_cell("model.region_names"),
]

TRAINING = [
    new_markdown_cell(
        "# Your own training loop\n\n"
        "The published recipe, piece by piece, in a loop you can change: the training augmentation, one batch\n"
        "per task and step (AU, EXPR and VA each from their own annotated frames), the paper's losses with\n"
        "missing labels masked, and the ABAW3 measures. The data is a small synthetic set in the Aff-Wild2\n"
        "layout (`smm.data.synthetic`), whose labels are simple functions of the pixels; point the datasets at\n"
        "a real Aff-Wild2 folder for the real thing, or run `smm-emotionnet train --recipe abaw3 --data ...`."
    ),
    new_code_cell(
        "import os\n\n"
        "# Parameters: SMM_AFFWILD2 names a real Aff-Wild2 folder (cropped_aligned/ and the three task folders);\n"
        "# without it the notebook makes a small synthetic set in the same layout.\n"
        "DATA = os.environ.get('SMM_AFFWILD2')",
        metadata={"tags": ["parameters"]},
    ),
    new_code_cell(
        "%matplotlib inline\n"
        "import tempfile\n"
        "import torch\n"
        "from torch.utils.data import default_collate\n"
        "import smm\n"
        "from smm.data import AffWild2Frames, au_pos_weight, eval_transform, expr_class_weight\n"
        "from smm.data.synthetic import make_synthetic_affwild2\n"
        "from smm.training import (TaskBatchSampler, cosine_schedule, describe, find_affwild2, train_transform,\n"
        "                          validate)\n\n"
        "torch.manual_seed(0)\n"
        "if DATA:\n"
        "    frames, annotations = find_affwild2(DATA)\n"
        "else:\n"
        "    synthetic = make_synthetic_affwild2(tempfile.mkdtemp(), image_size=64)\n"
        "    frames, annotations = synthetic.frames, synthetic.annotations\n"
        "# The ABAW3 heads on ResNet-18's stride-16 stage, at 64x64; the model records its preprocessing.\n"
        "model = smm.create_model('smm_resnet18', image_size=64)\n"
        "# The published augmentation without colour jitter and flips: these synthetic labels depend on colour\n"
        "# and on left/right position, so those augmentations would change the labels.\n"
        "augment = train_transform(64, color_jitter=None, hflip=0.0)\n"
        "tasks = ('AU', 'EXPR', 'VA')\n\n"
        "def task_set(task, split, transform):\n"
        "    folder = {f'{task.lower()}_dir': annotations[task][split]}\n"
        "    return AffWild2Frames(frames, **folder, transform=transform)\n\n"
        "train_sets = {t: task_set(t, 'Train_Set', augment) for t in tasks}\n"
        "val_sets = {t: task_set(t, 'Validation_Set', eval_transform(model.data_config)) for t in tasks}\n"
        "{t: (len(train_sets[t]), len(val_sets[t])) for t in tasks}"
    ),
    new_markdown_cell(
        "Every step takes one batch from each task's training frames (`TaskBatchSampler`, the published scheme),\n"
        "runs one forward pass per task and sums the three task losses. A frame's labels for other tasks are\n"
        "missing (-1 / -5) and never enter a loss."
    ),
    new_code_cell(
        "criterion = smm.MultiTaskLoss(au_pos_weight(train_sets['AU'].au),\n"
        "                           expr_class_weight(train_sets['EXPR'].expr))\n"
        "sampler = TaskBatchSampler({t: len(s) for t, s in train_sets.items()}, batch_size=16, splits=1)\n"
        "steps = 120\n"
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)\n"
        "schedule = cosine_schedule(optimizer, steps)\n"
        "cpu = torch.device('cpu')\n\n"
        "before = validate(model, val_sets, cpu)\n"
        "print('before:', describe(before))\n"
        "history = []\n"
        "for step in range(steps):\n"
        "    model.train()\n"
        "    losses = {}\n"
        "    for task, indices in sampler.step(step).items():\n"
        "        batch = default_collate([train_sets[task][i] for i in indices])\n"
        "        loss = criterion(model(batch['image']), batch['au'], batch['expr'], batch['va'])\n"
        "        losses[task] = getattr(loss, task.lower())  # this task's term; the others are 0 here\n"
        "    total = sum(losses.values())\n"
        "    optimizer.zero_grad()\n"
        "    total.backward()\n"
        "    optimizer.step()\n"
        "    schedule.step()\n"
        "    history.append({t: value.item() for t, value in losses.items()})\n"
        "after = validate(model, val_sets, cpu)\n"
        "print('after: ', describe(after))"
    ),
    new_markdown_cell(
        "Each measure should rise, not only their sum. On this synthetic data a good run ends near P_AU 0.8,\n"
        "P_EXPR 0.3 and P_VA 0.9 (chance: P_AU about 0.5, P_EXPR about 0.1, P_VA 0). Below, each task's loss\n"
        "(smoothed over 10 steps) against its chance level: the loss of a model that knows nothing and outputs\n"
        "zeros, that is probability 0.5 for every AU, the uniform distribution over the 8 expressions\n"
        "(ln 8 = 2.08) and a constant valence/arousal (CCC 0: a loss of 1 each, 2 for the two together)."
    ),
    new_code_cell(
        "import numpy as np\n"
        "from matplotlib.figure import Figure\n"
        "from matplotlib.ticker import MaxNLocator\n\n"
        "def chance_loss(task):\n"
        "    batch = default_collate([train_sets[task][i] for i in range(min(512, len(train_sets[task])))])\n"
        "    n = len(batch['image'])\n"
        "    zeros = smm.SMMOutput(*[None] * len(smm.SMMOutput._fields))._replace(\n"
        "        au=torch.zeros(n, len(model.au_names)), expr=torch.zeros(n, len(model.expression_names)),\n"
        "        va=torch.zeros(n, 2))\n"
        "    return getattr(criterion(zeros, batch['au'], batch['expr'], batch['va']), task.lower()).item()\n\n"
        "figure = Figure(figsize=(10, 3.2), layout='constrained')\n"
        "for axis, task in zip(figure.subplots(1, 3), tasks):\n"
        "    values = np.array([row[task] for row in history])\n"
        "    smooth = np.convolve(values, np.ones(10) / 10, mode='valid')\n"
        "    steps_axis = np.arange(len(smooth)) + 10  # the step that ends each 10-step window\n"
        "    axis.plot(steps_axis, smooth, label=f'{task} loss')\n"
        "    axis.axhline(chance_loss(task), color='gray', linestyle=':', label='chance (outputs all zero)')\n"
        "    axis.xaxis.set_major_locator(MaxNLocator(integer=True))\n"
        "    axis.set_xlabel('step')\n"
        "    axis.set_ylabel('loss (10-step mean)')\n"
        "    axis.set_ylim(bottom=0)\n"
        "    axis.set_title(task)\n"
        "    axis.legend(fontsize=8)\n"
        "figure"
    ),
    new_code_cell(
        "for name in ('p_au', 'p_expr', 'p_va'):\n"
        "    print(f'{name}: {getattr(before, name):.3f} -> {getattr(after, name):.3f}')\n"
        "if not DATA:  # on the synthetic set, a demo that does not learn every task is a bug\n"
        "    for name in ('p_au', 'p_expr', 'p_va'):\n"
        "        assert getattr(after, name) > getattr(before, name), name"
    ),
]

INTERPRETABILITY = [
    new_markdown_cell(
        "# What each facial region says\n\n"
        "SMM-EmotionNet predicts expressions and valence/arousal from the *consensus* of 17 facial regions:\n"
        "each region is mapped into a shared message space by its own matrix, and the mean is read by linear\n"
        "layers. Because those layers are linear, each region's own reading (its *vote*) averages exactly to\n"
        "the model's prediction, so we can see which regions push towards which message, and how much they\n"
        "disagree. With random weights (the default here) the pictures show the mechanics; with a trained\n"
        "checkpoint (`SMM_CHECKPOINT`, see the parameter cell) they show what the model learned."
    ),
    new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
    new_code_cell("%matplotlib inline\n" + IMPORTS + "\nfrom smm import viz"),
    new_code_cell(FACE),
    new_markdown_cell(LOAD_TEXT),
    new_code_cell(LOAD_MODEL),
    new_code_cell(
        "images = transform(face).unsqueeze(0)\n"
        "with torch.no_grad():\n"
        "    out = model(images)\n"
        "    votes = model.message_space(out.region_features, average='none')  # per-region outputs\n"
        "images.shape, votes.expr.shape, votes.va.shape"
    ),
    new_markdown_cell("## Where each region looks\n\nThe 17 attention maps, upsampled and laid over the face:"),
    new_code_cell("viz.plot_attention(images[0], out.attention[0], model.region_names)"),
    new_markdown_cell(
        "## Expression votes\n\nEach row is one region's expression distribution; the last row is the consensus\n"
        "(softmax of the mean logit, equal to the model's prediction)."
    ),
    new_code_cell(
        "torch.testing.assert_close(votes.expr.mean(1), out.expr, atol=1e-5, rtol=1e-4)  # the paper's equivalence\n"
        "viz.plot_region_votes(votes.expr[0], model.region_names, model.expression_names)"
    ),
    new_markdown_cell(
        "## Valence and arousal per region\n\n"
        "Each region's reading on the valence-arousal plane; the star is the model's output."
    ),
    new_code_cell("viz.plot_va(votes.va[0], model.region_names, consensus=out.va[0])"),
    new_markdown_cell(
        "## How much do the regions disagree?\n\n"
        "Two simple measures: the spread of the regions' VA readings around the consensus, and the share of\n"
        "regions whose top expression differs from the consensus."
    ),
    new_code_cell(
        "va_spread = (votes.va[0] - out.va[0]).norm(dim=-1)\n"
        "top = votes.expr[0].argmax(-1)\n"
        "dissent = (top != out.expr[0].argmax()).float().mean()\n"
        "print(f'mean VA distance to consensus: {va_spread.mean():.3f}')\n"
        "print(f'regions voting for another expression: {dissent:.0%}')\n"
        "for name, distance in sorted(zip(model.region_names, va_spread.tolist()), key=lambda x: -x[1])[:5]:\n"
        "    print(f'{name:>5} is {distance:.3f} away from the consensus')"
    ),
]


def main() -> None:
    for name, cells in (
        ("01_quickstart.ipynb", QUICKSTART),
        ("02_training.ipynb", TRAINING),
        ("03_interpretability.ipynb", INTERPRETABILITY),
    ):
        notebook = new_notebook(cells=cells)
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        notebook.metadata["language_info"] = {"name": "python"}
        nbformat.write(notebook, EXAMPLES / name)


if __name__ == "__main__":
    main()
