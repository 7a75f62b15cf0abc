using System.CommandLine;
using SeekSharp.Inference;
using SeekSharp.Ledger;
using SeekSharp.Modeling;
using SeekSharp.Tokenization;

namespace SeekSharp.Cli.Commands;

// The interactive chat: a person types, the model answers, turn after turn, until an empty line's "/exit" or the end
// of input. It is the command whose cost is mostly a person's time, so its ledger measures that: the time each read
// of a line waits is attended time (RunLedger.WaitForPerson), the people resource's measured part. The model re-reads
// the whole conversation each turn (TokenGenerator keeps no cache across calls), and that is what the FLOPs count.

/// <summary>`seek chat talk`: talk to a chat model at the terminal; with --ledger, a ledger.json with the attended time.</summary>
public static class ChatTalkCommand
{
    public const string Kind = "chat-talk";

    public static Command Create()
    {
        var model = ServeCommand.ModelOption();
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens of a reply at most.", DefaultValueFactory = _ => 128 };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature; 0 = greedy.", DefaultValueFactory = _ => 0.8 };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling mass.", DefaultValueFactory = _ => 0.95 };
        var seed = new Option<int>("--seed") { Description = "Sampling seed (turn i samples with seed + i).", DefaultValueFactory = _ => 0 };
        var ledgerPath = new Option<string?>("--ledger") { Description = "Write the session's ledger.json here when it ends: wall and CPU time, tokens, FLOPs, energy, and the attended time (seconds spent waiting for your input), added to the profile's declared person-hours." };
        var hardware = Options.Hardware();
        var precision = ServeCommand.PrecisionOption();
        var device = Options.Device();
        var cmd = new Command("talk", "Chat with a model at the terminal: type a message, read the reply; /exit or end of input stops.")
            { model, maxTokens, temperature, topP, seed, ledgerPath, hardware, precision, device };
        cmd.SetAction(p => SeekApp.Guard(() =>
        {
            var dir = p.GetValue(model)!;
            var opts = new SamplingOptions(p.GetValue(temperature), p.GetValue(topP)).Validate();
            if (p.GetValue(maxTokens) < 1) throw new SeekSharpException($"--max-tokens: expected an integer >= 1, got {p.GetValue(maxTokens)}.");
            var path = ServeCommand.LedgerPathOf(p.GetValue(ledgerPath));
            var hw = HardwareProfile.Resolve(p.GetValue(hardware));
            var tok = BpeTokenizer.Load(dir);
            using var m = GenerateCommand.Load(dir, p.GetValue(device)!, p.GetValue(precision)!);
            if (tok.VocabSize != m.Config.VocabSize)
                throw new SeekSharpException($"{dir}: tokenizer has {tok.VocabSize} tokens but config.json says vocab_size {m.Config.VocabSize}; they must come from the same run.");
            using var ledger = RunLedger.Start(Kind, hw);
            var entry = Talk(m, tok, ledger, p.GetValue(maxTokens), opts, p.GetValue(seed));
            if (path is not null) entry.Write(path);
            Console.WriteLine($"{entry.Tokens} tokens in {entry.WallSeconds:F1} s, {entry.AttendedSeconds ?? 0:F1} s of it waiting for you{(path is null ? "" : $"; ledger: {path}")}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>The conversation loop; returns the finished ledger.</summary>
    static LedgerEntry Talk(Transformer m, BpeTokenizer tok, RunLedger ledger, int maxTokens, SamplingOptions opts, int seed)
    {
        var history = new List<ChatMessage>();
        var flopsPerToken = ModelCost.Of(m.Config).ForwardFlopsPerToken;
        var context = m.Config.MaxPositionEmbeddings;
        Console.WriteLine("Type a message; /exit or end of input (Ctrl+D) stops.");
        for (int turn = 0; ; turn++)
        {
            Console.Write("> ");
            Console.Out.Flush();
            var line = ledger.WaitForPerson(Console.ReadLine);
            if (line is null || line.Trim() == "/exit") break;
            if (line.Trim().Length == 0) continue;
            history.Add(new ChatMessage("user", line));
            var ids = Fit(tok, history, context - maxTokens);
            if (ids is null)
            {
                history.RemoveAt(history.Count - 1);
                Console.WriteLine($"(that message is too long for the model's context of {context} tokens with --max-tokens {maxTokens}; not sent)");
                continue;
            }
            var stream = new Utf8Stream(tok);
            var reply = new List<int>();
            try
            {
                foreach (var id in new TokenGenerator(m).Generate(ids, maxTokens, opts, seed + turn, new HashSet<int> { tok.EosId }))
                {
                    reply.Add(id);
                    Console.Write(stream.Push(id));
                }
            }
            catch (InvalidLogitsException e)
            {
                Console.WriteLine();
                throw new SeekSharpException(e.Message, e);
            }
            Console.WriteLine();
            ledger.AddTokens(ids.Count + reply.Count);
            ledger.AddFlops((ids.Count + reply.Count) * flopsPerToken);
            history.Add(new ChatMessage("assistant", tok.Decode(reply.ToArray())));
        }
        return ledger.Finish();
    }

    /// <summary>The conversation's ids within <paramref name="budget"/> tokens, its oldest turns dropped as needed; null when
    /// even the last message alone does not fit.</summary>
    static List<int>? Fit(BpeTokenizer tok, List<ChatMessage> history, int budget)
    {
        for (int from = 0; from < history.Count; from++)
        {
            var ids = ChatTemplate.EncodeChat(tok, history.Skip(from), addGenerationPrompt: true).Ids;
            if (ids.Length <= budget) return [.. ids];
        }
        return null;
    }
}
