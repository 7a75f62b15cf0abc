using System.CommandLine;
using SeekSharp.Checkpoints;
using SeekSharp.Inference;
using SeekSharp.Tokenization;

namespace SeekSharp.Cli.Commands;

/// <summary>`seek generate`: continue a prompt with a trained model, streaming tokens as they come.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Run or model folder (config.json, model.safetensors, tokenizer.json).", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "Text to continue.", Required = true };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens to generate at most.", DefaultValueFactory = _ => 64 };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature; 0 = greedy.", DefaultValueFactory = _ => 0.8 };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling mass.", DefaultValueFactory = _ => 0.95 };
        var seed = new Option<int>("--seed") { Description = "Sampling seed.", DefaultValueFactory = _ => 0 };
        var device = Options.Device();
        var cmd = new Command("generate", "Generate a continuation with a KV cache.") { model, prompt, maxTokens, temperature, topP, seed, device };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var dir = p.GetValue(model)!;
            var opts = new SamplingOptions(p.GetValue(temperature), p.GetValue(topP)).Validate(); // before anything is loaded or printed
            var tok = BpeTokenizer.Load(dir);
            using var m = ModelFiles.Load(dir, new TorchSharp.torch.Device(p.GetValue(device)!));
            var ids = new List<int> { tok.BosId };
            ids.AddRange(tok.Encode(p.GetValue(prompt)!));
            Console.Write(p.GetValue(prompt));
            var stream = new Utf8Stream(tok);
            foreach (var id in new TokenGenerator(m).Generate(ids, p.GetValue(maxTokens), opts, p.GetValue(seed), new HashSet<int> { tok.EosId }))
                Console.Write(stream.Push(id));
            Console.WriteLine();
            return 0;
        }));
        return cmd;
    }
}
