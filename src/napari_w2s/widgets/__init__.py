"""The napari dock widgets: thin panels over the core, one per file.

=====================  ==========================  =============================================
display name           module                      what it does
=====================  ==========================  =============================================
Stack & noise levels   :mod:`.stack_levels`        averages a stack into ``avgN`` layers
Restore                :mod:`.restore`             denoise / SR / JDSR / classical / sequences
Analysis               :mod:`.analysis`            noise (a, b) and blur-kernel estimates
Metrics                :mod:`.metrics`             RMSE / PSNR / SSIM table against a reference
Batch                  :mod:`.batch`               restores a folder of files to disk
Train                  :mod:`.train`               fine-tunes a model on layers or a folder
=====================  ==========================  =============================================

The widgets only collect parameters, run the core's generators in
``napari.qt.threading`` workers (cancellable between tiles, frames or files) and turn the results
into layers. Importing this package, or any widget module, imports neither torch nor the maths:
they are imported inside the workers.

What they share: :mod:`._jobs` (thread workers, progress bars, cancel, notifications, adding
result layers), :mod:`._controls` (layer, method, noise-level and device pickers and other form
parts) and :mod:`._settings` (the choices remembered between sessions). What a widget shows
or adds is decided in the core (e.g. :mod:`napari_w2s.restore.layers`), not in the widget.
"""
