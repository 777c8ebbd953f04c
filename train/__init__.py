"""Fine-tuning the instruction model: pairs -> tokenized chat examples (data), GGUF -> HF base
(convert), the Ray Train per-worker loop (train_func) with DeepSpeed + PEFT LoRA, checkpoints
(checkpoint), the TorchTrainer launcher and exports (launcher), the llama.cpp LoRA export
(export_gguf). See train/README.md."""
