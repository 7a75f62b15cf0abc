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
        var chat = new Option<bool>("--chat") { Description = "Send the prompt as one user message in the chat layout the `seek chat` stages train on, and print the assistant's reply (a base model continues raw text; a chat model needs its layout)." };
        var device = Options.Device();
        var cmd = new Command("generate", "Generate a continuation with a KV cache.") { model, prompt, maxTokens, temperature, topP, seed, chat, device };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var dir = p.GetValue(model)!;
            var opts = new SamplingOptions(p.GetValue(temperature), p.GetValue(topP)).Validate(); // before anything is loaded or printed
            var tok = BpeTokenizer.Load(dir);
            using var m = ModelFiles.Load(dir, new TorchSharp.torch.Device(p.GetValue(device)!));
            if (tok.VocabSize != m.Config.VocabSize) // an id past the embedding is a native error mid-generation
                throw new SeekSharpException($"{dir}: tokenizer has {tok.VocabSize} tokens but config.json says vocab_size {m.Config.VocabSize}; they must come from the same run.");
            var text = p.GetValue(prompt)!;
            var ids = Prompt(tok, text, p.GetValue(chat));
            if (!p.GetValue(chat)) Console.Write(text); // a continuation reads on from the prompt; a reply stands alone
            var stream = new Utf8Stream(tok);
            try
            {
                foreach (var id in new TokenGenerator(m).Generate(ids, p.GetValue(maxTokens), opts, p.GetValue(seed), new HashSet<int> { tok.EosId }))
                    Console.Write(stream.Push(id));
            }
            catch (InvalidLogitsException e)
            {
                Console.WriteLine(); // ends the text printed so far, so that the error stands on its own line
                throw new SeekSharpException($"{dir}: {e.Message}", e);
            }
            Console.WriteLine();
            return 0;
        }));
        return cmd;
    }

    /// <summary>The prompt's ids: raw text after &lt;|bos|&gt;, or (chat) one user message and the assistant's turn
    /// opened, so the model answers as it learned to in SFT and GRPO.</summary>
    internal static List<int> Prompt(BpeTokenizer tok, string text, bool chat) => chat
        ? [.. ChatTemplate.EncodeChat(tok, [new ChatMessage("user", text)], addGenerationPrompt: true).Ids]
        : [tok.BosId, .. tok.Encode(text)];
}
