using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using SeekSharp.Training;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek eval ppl`: validation loss, perplexity and bits per byte of a model folder on a token dataset.</summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Run, model or checkpoint folder (config.json, model.safetensors, tokenizer.json).", Required = true };
        var data = new Option<string>("--data") { Description = "Token dataset folder from `seek data tokenize`, made with the model's tokenizer.", Required = true };
        var split = new Option<string>("--split") { Description = "Which split to score: val or train.", DefaultValueFactory = _ => "val" };
        split.AcceptOnlyFromAmong("val", "train");
        var batch = new Option<int?>("--batch-size") { Description = $"Windows per forward (default {PerplexityOptions.DefaultBatchSize}, or fewer when the split holds fewer windows)." };
        var seqLen = new Option<int>("--seq-len") { Description = "Window length in tokens; 0 = the model's context (max_position_embeddings).", DefaultValueFactory = _ => 0 };
        var batches = new Option<int>("--batches") { Description = "Batches at most; 0 = every full batch of the split.", DefaultValueFactory = _ => 64 };
        var precision = ServeCommand.PrecisionOption();
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of lines." };
        var device = Options.Device();
        var ppl = new Command("ppl", "Score a model on the same consecutive windows of a dataset split every time: loss (nats/token), perplexity, bits per byte.")
            { model, data, split, batch, seqLen, batches, precision, json, device };
        ppl.SetAction(p => SeekApp.Guard(() =>
        {
            var r = Perplexity.RunFolder(p.GetValue(model)!, p.GetValue(data)!, new PerplexityOptions(p.GetValue(split)!, p.GetValue(batch),
                p.GetValue(seqLen), p.GetValue(batches), p.GetValue(precision)!, p.GetValue(device)!));
            var t = r.Totals;
            if (p.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["model"] = r.Model, ["data"] = r.Data, ["split"] = r.Split, ["precision"] = r.Precision,
                    ["batch_size"] = r.BatchSize, ["seq_len"] = r.SeqLen, ["batches"] = t.Batches,
                    ["tokens"] = t.Tokens, ["split_tokens"] = r.SplitTokens, ["bytes"] = t.Bytes, ["nats"] = t.Nats,
                    ["loss"] = Finite(t.Loss), ["perplexity"] = Finite(t.Perplexity), ["bits_per_byte"] = Finite(t.BitsPerByte),
                }));
                return 0;
            }
            var c = CultureInfo.InvariantCulture;
            Console.WriteLine(string.Create(c, $"{r.Split} split of {r.Data}: {t.Tokens:N0} of {r.SplitTokens:N0} tokens ({t.Batches} batches of {r.BatchSize} x {r.SeqLen}, consecutive from the start), {r.Precision}"));
            Console.WriteLine(string.Create(c, $"loss        {t.Loss:F4} nats/token"));
            Console.WriteLine(string.Create(c, $"perplexity  {t.Perplexity:F3}"));
            Console.WriteLine(string.Create(c, $"bits/byte   {t.BitsPerByte:F4} ({t.Bytes:N0} bytes of text)"));
            return 0;
        }));
        return new Command("eval", "Evaluate a model.") { ppl };
    }

    // JSON has no NaN or infinity: a perplexity past double's range, or bits/byte of targets that are all special tokens, is null.
    static double? Finite(double x) => double.IsFinite(x) ? x : null;
}
