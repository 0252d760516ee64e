"""Tasks: what the shared base is fine-tuned for, and the models that serve, grow and measure each task.

One idea per module; each imports only modules listed above it (``tests/test_layout.py`` keeps the
package free of import cycles and of private names used across modules)::

    examples      Examples: labelled rows (no torch)
    registry      one TaskSpec per task: labels, loader + split rule, preparation, baselines;
                  web_attack, web, url, script, traffic, logs, cti, evtx define the tasks
    finetune      the fine-tuning recipe (torch): encoding, batches, class weights, best epoch
    selection     choosing on validation: thresholds, macro-F1, the paired bootstrap
    ── serving: what detect/ and serve/ import; never the training code below ──
    multitask     task adapters on one shared base (MultiTaskModel) and their directory layout
    heads         lexical heads, head+adapter ensembles and text heads as served (numpy; the
                  text head's sentence encoder needs torch)
    ── making models and measuring them ──
    predictors    every servable system as (labels, meta, predict_proba(Examples))
    head_fit      fitting and choosing heads (`secllm models lexical-heads` / `text-heads`)
    grow_rows     new rows on a frozen linear model and the old-class guard (numpy)
    grow          growing an adapter's head and the served heads by new classes
    adapt         train_adapter, adapt_model_dir (`secllm adapt`), merged and ONNX task models
    evaluate      run_task_eval (`secllm eval --task`): fine-tunes, systems, baselines, reports
    fewshot       the few-shot experiment (`benchmarks/tasks.py --fewshot`)

Outside the package, the heads reuse the web cascade's numpy lexical model
(:mod:`secllm.detect.lexical`) and verdict rule (:mod:`secllm.detect.cascade`), and the measuring
modules use :mod:`secllm.eval` (metrics, baselines, reports); the few-shot experiment also builds a
served web cascade (:mod:`secllm.detect.calibrate`).

    >>> from secllm.tasks.registry import get_task
    >>> get_task("url").benign_label
    'benign'
"""
