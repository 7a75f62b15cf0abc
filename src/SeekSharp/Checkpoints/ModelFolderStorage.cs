using SeekSharp.Ledger;
using SeekSharp.Tokenization;

namespace SeekSharp.Checkpoints;

// What a model folder holds, for the ledger's storage section: the ledger knows nothing of model files
// (it depends on nothing above it), so the folder's layout is named here, beside ModelFiles. Every
// top-level *.safetensors is weights (model.safetensors, a reward head, a quantized model's tensors),
// and so is a LoRA adapter/ folder; config.json, generation_config.json and the tokenizer files are
// "other". A stage's own files (sft_config.json, metrics.jsonl) are small logs and are not counted.

/// <summary>Records a model folder a run has just written in its ledger.</summary>
public static class ModelFolderStorage
{
    /// <summary>The adapter folder `chat sft --lora` writes beside the merged model.</summary>
    const string AdapterFolder = "adapter";

    /// <summary>Records <paramref name="dir"/>'s weights (kind weights) and its config and tokenizer files (kind other),
    /// as they are on disk now; files a folder lacks are skipped. Returns <paramref name="dir"/>.</summary>
    public static string RecordModelFolder(this RunLedger ledger, string dir)
    {
        foreach (var f in Directory.GetFiles(dir, "*.safetensors").Order(StringComparer.Ordinal))
            ledger.RecordStorage(f, StorageKind.Weights);
        var adapter = Path.Combine(dir, AdapterFolder);
        if (Directory.Exists(adapter)) ledger.RecordStorage(adapter, StorageKind.Weights);
        foreach (var name in new[] { ModelFiles.ConfigFile, ModelFiles.IndexFile, ModelFiles.GenerationConfigFile }.Concat(BpeTokenizer.FileNames))
            if (File.Exists(Path.Combine(dir, name))) ledger.RecordStorage(Path.Combine(dir, name), StorageKind.Other);
        return dir;
    }

    /// <summary>Records the weights of the model folder a command read (every top-level *.safetensors) as its source:
    /// what a quantized, pruned or exported model is compared with. Returns <paramref name="dir"/>.</summary>
    public static string RecordSourceModel(this RunLedger ledger, string dir)
    {
        foreach (var f in Directory.GetFiles(dir, "*.safetensors").Order(StringComparer.Ordinal)) ledger.RecordSource(f);
        return dir;
    }
}
