"""The Restore widget's labels and tooltips."""

AUTO_LEVEL = "auto (from the layer name, else from the image's signal-to-noise)"
NOISE_TIP = (
    "how noisy the image is, in W2S frames averaged (avg1 = one frame): it decides which "
    "trained model runs. auto takes avgN from the layer name or the Analysis widget's estimate, "
    "else the image's signal-to-noise ratio (the per-level model where the image is as noisy "
    "as its training data, else the noise-blind one)"
)
LABELS = {
    "trust": "add a trust map (where the data support the result)",
    "current_only": "only the displayed frame of a stack",
    "reliability": "add a reliability map (stacks)",
    "replace": "replace an earlier result of the same method",
}
# the orientations picker's items (restore.orientations.ORIENTATIONS), each with its cost
ORIENTATION_ITEMS = {
    1: "1 (off)",
    2: "2 (2x the time)",
    4: "4 (4x the time)",
    8: "8 (8x the time, lowest error)",
}


def orientations_of(item: str) -> int:
    """The count of an :data:`ORIENTATION_ITEMS` item (``"8 (8x ...)"`` -> 8)."""
    return int(item.split()[0])


CLASSICAL_NOTE = " (classical methods estimate the noise themselves: not used)"
TIPS = {
    "layer": "the image to restore: a noise level (avgN), a 2-D image, or a stack (frame by frame)",
    "method": "what to do with the image: JDSR denoises and doubles the resolution in one step "
    "(the main method); the other groups only denoise, only upsample x2, or do one after the "
    "other",
    "card": "the selected method: what it does, which trained weights run for this image, and "
    "how well it did on held-out test images",
    "device": "where the networks run: auto takes the GPU when there is one, else the CPU",
    "precision": "arithmetic of the networks: auto = mixed precision on a GPU, float32 on the "
    "CPU; bfloat16 is 1.2-2.7x faster on a CPU with native bfloat16 (AVX512-BF16, AMX) and differs "
    "from float32 by about 1 % of the result's standard deviation",
    "orientations": "average each network's result over this many flips and quarter turns of "
    "the image (test-time augmentation): that many times slower; 8 lowers the RMSE by about "
    "2 % on held-out tests (classical methods: not used)",
    "threads": "CPU threads of the networks: auto = the cores free now (the cores minus the load "
    "of other programs); all = every core",
    "weights": "your own weights instead of the shipped ones: a .safetensors file with its .json "
    "card, or a BioImage Model Zoo package (.zip, or a folder with rdf.yaml: 2-D, one channel, "
    "same size or x2)",
    "weights_button": "pick your own weights file or BioImage Model Zoo package",
    "tile_auto": "tiles sized from the free memory of the device; set a smaller tile if the GPU "
    "runs out of memory",
    "tile": "the image is processed in square pieces of this many pixels (overlapping, so no "
    "seams); smaller pieces need less memory",
    "trust": "push the result back through the imaging model and compare it with the input, in "
    "noise units: red/blue where the result has more/less than the data support (w2s check); "
    "for one image or frame",
    "reliability": "for a raw stack (T, Y, X): restore the W2S level chosen under noise level "
    "(avgN: the average of N frames, the W2S protocol's), restore the average of N other frames "
    "too, and add where the two results disagree, calibrated so that the map's mean predicts "
    "the error against the truth (w2s restore --level N --reliability); the stack needs 2 N "
    "frames",
    "current_only": "restore the frame under the slider; the result shows at that frame only",
    "replace": "on: running the same method on the same image again overwrites its result layer "
    "instead of adding 'name [1]'; earlier results of other methods are hidden, not deleted",
    "confirm_all": "restore every plane of the stack (the time shown is measured on the first "
    "plane)",
    "confirm_frame": "restore only the frame under the slider",
    "run": "restore the image with the method; the result is added as a new layer that overlays "
    "the input (x2: half the pixel size)",
    "cancel": "stop after the current tile; nothing is added",
    "compare": "show the last result in green over the SIM reference in magenta (white where "
    "they agree), other layers hidden",
    "bar": "progress of the running restoration (tiles and planes)",
}
