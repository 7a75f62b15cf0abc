using System.CommandLine;
using SeekSharp.Checkpoints;
using SeekSharp.Inference;
using SeekSharp.Modeling;
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
        var chat = new Option<bool>("--chat") { Description = "Send the prompt as one user message in the chat layout the `seek chat` stages train on, and print the assistant's reply (a base model continues raw text; a chat model needs its layout)." };
        var precision = ServeCommand.PrecisionOption();   // bf16 by default, as `seek serve`, so both decode alike
        var showIds = new Option<bool>("--show-ids") { Description = "After the text, print the token ids as one line `ids: PROMPT_IDS | GENERATED_IDS` (the stop token is not generated text and is left out)." };
        var device = Options.Device();
        var cmd = new Command("generate", "Generate a continuation with a KV cache.") { model, prompt, maxTokens, temperature, topP, seed, chat, precision, showIds, device };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var dir = p.GetValue(model)!;
            var opts = new SamplingOptions(p.GetValue(temperature), p.GetValue(topP)).Validate(); // before anything is loaded or printed
            var tok = BpeTokenizer.Load(dir);
            using var m = Load(dir, p.GetValue(device)!, p.GetValue(precision)!);
            if (tok.VocabSize != m.Config.VocabSize) // an id past the embedding is a native error mid-generation
                throw new SeekSharpException($"{dir}: tokenizer has {tok.VocabSize} tokens but config.json says vocab_size {m.Config.VocabSize}; they must come from the same run.");
            var text = p.GetValue(prompt)!;
            var ids = Prompt(tok, text, p.GetValue(chat));
            if (!p.GetValue(chat)) Console.Write(text); // a continuation reads on from the prompt; a reply stands alone
            var stream = new Utf8Stream(tok);
            var generated = new List<int>();
            try
            {
                foreach (var id in new TokenGenerator(m).Generate(ids, p.GetValue(maxTokens), opts, p.GetValue(seed), new HashSet<int> { tok.EosId }))
                {
                    generated.Add(id);
                    Console.Write(stream.Push(id));
                }
            }
            catch (InvalidLogitsException e)
            {
                Console.WriteLine(); // ends the text printed so far, so that the error stands on its own line
                throw new SeekSharpException($"{dir}: {e.Message}", e);
            }
            Console.WriteLine();
            if (p.GetValue(showIds)) Console.WriteLine(IdsLine(ids, generated));
            return 0;
        }));
        return cmd;
    }

    /// <summary>The model folder with its matmuls in <paramref name="precision"/> (bf16 or fp32; the fp32 masters stay).</summary>
    internal static Transformer Load(string dir, string device, string precision)
    {
        var m = ModelFiles.Load(dir, new TorchSharp.torch.Device(device));
        m.SetComputeType(Transformer.ComputeTypeOf(precision));
        m.eval();
        m.Freeze();   // inference only: cast the weights once, not at every decode step (as serve's engine does)
        return m;
    }

    /// <summary>`ids: 1 2 3 | 4 5 6`: the prompt's ids (with &lt;|bos|&gt; or the chat layout), then the generated ones.</summary>
    internal static string IdsLine(IEnumerable<int> prompt, IEnumerable<int> generated) =>
        $"ids: {string.Join(' ', prompt)} | {string.Join(' ', generated)}".TrimEnd();

    /// <summary>The prompt's ids: raw text after &lt;|bos|&gt;, or (chat) one user message and the assistant's turn
    /// opened, so the model answers as it learned to in SFT and GRPO.</summary>
    internal static List<int> Prompt(BpeTokenizer tok, string text, bool chat) => chat
        ? [.. ChatTemplate.EncodeChat(tok, [new ChatMessage("user", text)], addGenerationPrompt: true).Ids]
        : [tok.BosId, .. tok.Encode(text)];
}
