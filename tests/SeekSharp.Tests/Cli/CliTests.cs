using System.CommandLine;
using SeekSharp.Cli;

namespace SeekSharp.Tests.Cli;

[Collection("Console")] // these tests redirect Console.Out
public class CliTests : TempDirTest
{
    /// <summary>Runs `seek` in-process with Console (stdout and stderr, in order) and Spectre output captured (plain text, 80 columns).</summary>
    internal static (int Code, string Output) Run(params string[] args)
    {
        var (old, oldErr) = (Console.Out, Console.Error);
        var sw = new StringWriter();
        Console.SetOut(sw);
        Console.SetError(sw);
        Spectre.Console.AnsiConsole.Console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
        {
            Out = new Spectre.Console.AnsiConsoleOutput(sw), Ansi = Spectre.Console.AnsiSupport.No, Interactive = Spectre.Console.InteractionSupport.No,
        });
        try { return (SeekApp.Run(args), sw.ToString()); }
        finally { Console.SetOut(old); Console.SetError(oldErr); }
    }

    [Fact]
    public void UserErrorsPrintOneLineNamingTheProblemAndExitOne()
    {
        var missing = Path.Combine(NewDir(), "no-such-data");
        var (code, output) = Run("base", "train", "--data", missing, "--out", NewDir(), "--steps", "1");
        Assert.Equal(1, code);
        Assert.Contains("error:", output);
        Assert.Contains(missing, output);
        Assert.DoesNotContain("   at ", output); // no stack trace

        (code, output) = Run("base", "train", "--data", missing, "--out", NewDir(), "--preset", "gigantic");
        Assert.Equal(1, code);
        Assert.Contains("unknown preset 'gigantic'", output);

        // --init: a folder without config.json; beside --preset; with a pipeline (refused before any stage starts).
        (code, output) = Run("base", "train", "--data", missing, "--out", NewDir(), "--init", missing);
        Assert.Equal(1, code);
        Assert.StartsWith("error: --init", output.Trim());
        Assert.Contains("config.json", output);
        var init = NewDir();
        Directory.CreateDirectory(init);
        File.WriteAllText(Path.Combine(init, "config.json"), SeekSharp.Modeling.Presets.Get("tiny").ToJson());
        (code, output) = Run("base", "train", "--data", missing, "--out", NewDir(), "--init", init, "--preset", "tiny");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --init and --preset", output.Trim());
        (code, output) = Run("base", "train", "--data", missing, "--out", NewDir(), "--init", init, "--pipeline-stages", "2");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --init", output.Trim());
        Assert.Contains("--pipeline-stages", output);

        (code, output) = Run("generate", "--model", missing, "--prompt", "hi", "--top-p", "3");
        Assert.Equal(1, code);
        Assert.StartsWith("error: top_p", output.Trim());

        (code, output) = Run("generate", "--model", missing, "--prompt", "hi");
        Assert.Equal(1, code);
        Assert.Contains(missing, output);
    }

    [Fact]
    public void GenerateChatAnswersInTheChatLayout()
    {
        using var folder = new SeekSharp.Tests.Alignment.ChatModelFolder();
        var tok = folder.Tokenizer;
        var ids = SeekSharp.Cli.Commands.GenerateCommand.Prompt(tok, "What is 2 + 3?", chat: true);
        Assert.Equal(SeekSharp.Tokenization.ChatTemplate.EncodeChat(tok, [new("user", "What is 2 + 3?")], addGenerationPrompt: true).Ids, ids);
        Assert.Equal(tok.TokenToId(SeekSharp.Tokenization.SpecialTokens.Assistant), ids[^1]);
        Assert.Equal([tok.BosId, .. tok.Encode("What is 2 + 3?")], SeekSharp.Cli.Commands.GenerateCommand.Prompt(tok, "What is 2 + 3?", chat: false));

        // The reply is printed without the prompt in front of it; a continuation reads on from the prompt.
        var (code, output) = Run("generate", "--model", folder.ModelDir, "--prompt", "What is 2 + 3?", "--chat", "--max-tokens", "3", "--temperature", "0");
        Assert.True(code == 0, output);
        Assert.DoesNotContain("What is 2 + 3?", output);
        (code, output) = Run("generate", "--model", folder.ModelDir, "--prompt", "What is 2 + 3?", "--max-tokens", "3", "--temperature", "0");
        Assert.True(code == 0, output);
        Assert.StartsWith("What is 2 + 3?", output);
    }

    [Fact]
    public void TokenizerTrainsFromTheCommandLine()
    {
        var input = Path.Combine(NewDir(), "a.txt");
        File.WriteAllText(input, string.Join("\n", Enumerable.Repeat("the quick brown fox jumps over the lazy dog", 50)));
        var outDir = NewDir();
        var (code, output) = Run("tok", "train", "--input", input, "--vocab", "300", "--out", outDir);
        Assert.Equal(0, code);
        Assert.True(File.Exists(Path.Combine(outDir, "tokenizer.json")));
        Assert.Contains("bytes/token", output);
    }

    [Fact]
    public void ChatEvalRefusesAHeldOutSetThatOverlapsTheTrainingPrompts()
    {
        var dir = NewDir();
        var overlap = Path.Combine(dir, "sft.jsonl");
        var victim = SeekSharp.Reasoning.HeldOut.Problems(SeekSharp.Data.Synthetic.ArithmeticTask.Instance, 20)[3];
        File.WriteAllText(overlap, SeekSharp.Data.Synthetic.SyntheticData.ToJsonLine(new("x", victim)) + "\n");
        // The check runs before the model is loaded, so no model is needed to see it refuse.
        var (code, output) = Run("chat", "eval", "--model", Path.Combine(dir, "model"), "--task", "arithmetic", "--count", "20", "--train-prompts", overlap);
        Assert.Equal(1, code);
        Assert.Contains("overlaps the training prompts", output);
        Assert.Contains("1 of 20", output);
    }

    [Fact]
    public void ChatEvalPicksKFromTheSamplesItDraws()
    {
        using var folder = new SeekSharp.Tests.Alignment.ChatModelFolder();
        // Greedy decoding draws one sample per problem: pass@1 it is, without having to say --k 1.
        var (code, output) = Run("chat", "eval", "--model", folder.ModelDir, "--task", "arithmetic", "--count", "2", "--temperature", "0", "--max-tokens", "3");
        Assert.True(code == 0, output);
        Assert.Contains("greedy decoding", output);
        var scores = Path.Combine(folder.ModelDir, "..", "eval-scores.json");
        (code, output) = Run("chat", "eval", "--model", folder.ModelDir, "--task", "arithmetic", "--count", "2", "--samples", "2", "--max-tokens", "3",
            "--out", scores);
        Assert.True(code == 0, output);
        Assert.Contains("pass@2", output);
        // --out lists every problem with its parameters and how many samples verified.
        using (var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(scores)))
        {
            var perProblem = json.RootElement.GetProperty("per_problem");
            Assert.Equal(2, perProblem.GetArrayLength());
            foreach (var p in perProblem.EnumerateArray())
            {
                Assert.Equal(2, p.GetProperty("samples").GetInt32());
                Assert.InRange(p.GetProperty("correct").GetInt32(), 0, 2);
                Assert.True(p.GetProperty("parameters").TryGetProperty("op", out _));
            }
        }
        // An explicit k above the samples is still an error.
        (code, output) = Run("chat", "eval", "--model", folder.ModelDir, "--task", "arithmetic", "--count", "2", "--samples", "2", "--k", "4", "--max-tokens", "3");
        Assert.Equal(1, code);
        Assert.Contains("--k: expected 1..2", output);
    }

    [Fact]
    public void ChatCommandsFineTuneMergeAndTrainARewardModel()
    {
        using var folder = new SeekSharp.Tests.Alignment.ChatModelFolder();
        var data = folder.PingPong(8);
        var sft = folder.NewDir();
        var (code, output) = Run("chat", "sft", "--model", folder.ModelDir, "--data", data, "--out", sft, "--steps", "2", "--batch-size", "4",
            "--lora", "2", "--precision", "fp32", "--val-fraction", "0.25");
        Assert.True(code == 0, output);
        Assert.Contains("6+2", output);                                     // records: train+val
        Assert.Contains("LoRA adapter:", output);
        Assert.Contains("\"lora_alpha\": 4", File.ReadAllText(Path.Combine(sft, "adapter", "adapter_config.json")));   // default alpha = 2r

        var merged = folder.NewDir();
        (code, output) = Run("chat", "merge", "--model", folder.ModelDir, "--adapter", Path.Combine(sft, "adapter"), "--out", merged);
        Assert.True(code == 0, output);
        Assert.Equal(File.ReadAllBytes(Path.Combine(sft, "model.safetensors")), File.ReadAllBytes(Path.Combine(merged, "model.safetensors")));

        var pairs = Path.Combine(NewDir(), "pairs.jsonl");
        File.WriteAllLines(pairs, Enumerable.Range(0, 6).Select(i => $$"""{"prompt":"p{{i}}","chosen":"good","rejected":"bad"}"""));
        var rm = folder.NewDir();
        (code, output) = Run("chat", "rm", "--model", sft, "--data", pairs, "--out", rm, "--steps", "2", "--precision", "fp32");
        Assert.True(code == 0, output);
        Assert.Contains("reward model:", output);
        Assert.Contains("bradley_terry", File.ReadAllText(Path.Combine(rm, "reward_config.json")));

        File.AppendAllText(data, "{\"messages\": []}\n");
        (code, output) = Run("chat", "sft", "--model", folder.ModelDir, "--data", data, "--out", folder.NewDir());
        Assert.Equal(1, code);
        Assert.Contains($"{data}:9", output.Replace("\n", ""));
    }

    /// <summary>The CLI surface is part of the user's contract: changing it must be deliberate (update this list and the README).</summary>
    [Fact]
    public void CommandSurfaceIsFrozen()
    {
        var lines = new List<string>();
        void Walk(Command c, string prefix)
        {
            var path = (prefix + " " + c.Name).Trim();
            lines.Add(path + ": " + string.Join(" ", c.Options.Where(o => o.Name.StartsWith("--") && o.Name is not "--help" and not "--version").Select(o => o.Name).Order()));
            foreach (var s in c.Subcommands.OrderBy(s => s.Name)) Walk(s, path);
        }
        foreach (var c in SeekApp.Build().Subcommands.OrderBy(s => s.Name)) Walk(c, "seek");
        string[] expected =
        [
            "seek base: ",
            "seek base train: --batch-size --checkpoint-every --cluster --data --device --eval-every --expert-parallel --grad-accum --hardware --host --init --lr --max-memory --max-shard-size --micro-batches --mtp-depth --mtp-weight --out --pipeline-balance --pipeline-stages --port --precision --preset --reference --resume --schedule --seed --select --select-ratio --seq-len --steps --warmup",
            "seek bench: ",
            "seek bench data: --corpora --json --tokenizer",
            "seek bench diloco: --batch-size --compress --data --eval-batches --init --inner-steps --lr --no-fault --out --outer-lr --outer-momentum --outer-steps --port --precision --preset --seed --seq-len --shards --threads --warmup --workers",
            "seek bench engine: --clients --device --group-prefill --json --max-batch --model --precision --preset --prompt-tokens --rounds --speculative --tokens",
            "seek bench llama: --json --model --prompt-tokens --rounds --threads --tokens --type",
            "seek bench pipeline: --batch-size --data --expert-parallel --max-memory --micro-batches --out --port --precision --preset --schedule --seq-len --stages --steps --threads",
            "seek bench quant: --json --m --rounds --shapes",
            "seek bench race: --batch-size --data --device --eval-every --hardware --lr --minutes --out --precision --presets --seed --seq-len --warmup",
            "seek bench select: --batch-size --device --eval-batches --eval-every --hardware --keep-fraction --lr --methods --out --pool --precision --preset --proxy-steps --reference-steps --seed --select-ratio --seq-len --steps --target --warmup",
            "seek bench serve: --api-key --clients --device --duration --max-batch --max-tokens --model --out --precision --requests --url",
            "seek bench train: --batch-size --device --json --precision --preset --rounds --steps --warmup",
            "seek chat: ",
            "seek chat eval: --count --device --k --max-tokens --model --out --samples --seed --show --task --temperature --top-p --train-prompts",
            "seek chat merge: --adapter --model --out",
            "seek chat rl: --beta --checkpoint-every --curriculum --device --epsilon --epsilon-high --eval-count --eval-every --format-weight --group --hardware --loss --lr --max-tokens --minutes --model --mu --out --precision --prompts-per-step --resume --rm --rm-weight --rollout-rows --seed --steps --task --temperature --warmup",
            "seek chat rm: --batch-size --checkpoint-every --data --device --epochs --eval-every --hardware --lr --model --out --precision --resume --seed --steps --val-fraction",
            "seek chat sample: --count --device --max-tokens --model --out --samples --seed --task --temperature",
            "seek chat sft: --batch-size --checkpoint-every --data --device --epochs --eval-every --grad-accum --hardware --lora --lora-alpha --lr --model --out --precision --resume --seed --steps --val-fraction --warmup",
            "seek chat talk: --device --hardware --ledger --max-tokens --model --precision --seed --temperature --top-p",
            "seek cost: ",
            "seek cost estimate: --deepseek-v3 --from --hardware --mfu --model --params-active --params-total --precision --preset --seq-len --tokens",
            "seek data: ",
            "seek data prepare: --column --dedup-threshold --field --format --lexicon --max-tokens --out --source --tokenizer --val-fraction",
            "seek data select: --batch-size --data --device --hardware --keep-fraction --model --out --precision --reference --sample --score --seed",
            "seek data synth: --augment --count --out --seed --task",
            "seek data tokenize: --input --out --tokenizer --val-fraction",
            "seek distill: --alpha --batch-size --cache --count --device --epochs --hardware --lr --max-tokens --mode --out --precision --samples --seed --steps --student --student-preset --task --tau --teacher --temperature --top-k --warmup",
            "seek eval: ",
            "seek eval ppl: --batch-size --batches --data --device --json --model --precision --seq-len --split",
            "seek export: ",
            "seek export gguf: --model --out --type",
            "seek generate: --chat --device --max-tokens --model --precision --prompt --seed --show-ids --temperature --top-p",
            "seek hub: --batch-size --cluster --compress --data --eval-batches --hardware --host --inner-steps --lease --lr --min-workers --model --out --outer-lr --outer-momentum --outer-steps --port --precision --preset --resume --round-timeout --seed --seq-len --start-workers --warmup",
            "seek prune: ",
            "seek prune experts: --calibration --hardware --keep-fraction --model --out --split --tokens",
            "seek quantize: --hardware --max-shard-size --model --out --type",
            "seek quickstart: --device --documents --out --steps",
            "seek recipe: ",
            "seek recipe finance: --companies --days --lexicon --out --seed",
            "seek recipe r1: --base --beta --cold-start --cold-start-steps --device --documents --eval-count --group --hardware --loss --lr --max-tokens --minutes-rl --minutes-rl2 --out --preset --pretrain-steps --prompts-per-step --rollout-rows --seed --task --temperature --warmup",
            "seek report: ",
            "seek report compare: --out",
            "seek serve: --api-keys --device --group-prefill --hardware --host --ledger --max-batch --model --name --port --precision --pricing --speculative",
            "seek serve keys: ",
            "seek serve keys add: --admin --budget-usd --file --name --rpm",
            "seek stage: --cluster --connect-timeout --hub --name --preset --threads --token",
            "seek tok: ",
            "seek tok train: --input --out --vocab",
            "seek worker: --batch-size --cluster --connect-timeout --data --get-tokenizer --hub --inner-delay --name --threads --token",
        ];
        Assert.Equal(expected, lines);
    }
}
