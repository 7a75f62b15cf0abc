using System.Text.Json;
using SeekSharp.Data;
using SeekSharp.Reports;
using SeekSharp.Selection;
using SeekSharp.Tests.Training;

namespace SeekSharp.Tests.Selection;

public class SelectBenchTests(SelectionFixture f) : IClassFixture<SelectionFixture>
{
    [Fact]
    public void EachMethodIsMeasuredAtItsFirstEvaluationAtOrBelowTheBaselinesFinalLossPrepIncluded()
    {
        var curves = new List<SelectCurve>
        {
            new("random", [(10, 100, 1.0, 3.0), (20, 200, 2.0, 2.5), (30, 300, 3.0, 2.0)], 0, "", 0.1),
            new("fast", [(10, 100, 1.5, 2.4), (20, 200, 3.0, 1.9), (30, 300, 4.5, 1.8)], 1.0, "scoring", 0.2),
            new("never", [(10, 100, 1.0, 3.0), (20, 200, 2.0, 2.9), (30, 300, 3.0, 2.8)], 0, "", 0.1),
        };
        var rows = SelectBench.Rows(curves, 2.0);
        Assert.Equal(300, rows[0].TokensToTarget);
        Assert.Equal(1.0, rows[0].TokenRatio);
        Assert.Equal(1.0, rows[0].WallRatio);
        Assert.Equal(200, rows[1].TokensToTarget);
        Assert.Equal(4.0, rows[1].SecondsToTarget);        // 3.0 s of training + 1.0 s of prep
        Assert.Equal(1.5, rows[1].TokenRatio);
        Assert.Equal(0.75, rows[1].WallRatio);             // fewer tokens, more wall: a loss, shown as one
        Assert.Null(rows[2].TokensToTarget);
        Assert.Null(rows[2].TokenRatio);
        Assert.Equal(2.8, rows[2].FinalValLoss);
        Assert.Equal("1.66", SelectBenchReport.Down(25_600 / 15_360.0));   // ratios are rounded down, never up
        Assert.Equal("0.36", SelectBenchReport.Down(0.3689));
    }

    [Fact]
    public void ABenchRunsEveryMethodOnThePoolAndMeasuresAllOnTheTargetsHeldOutSplit()
    {
        var root = f.Data.NewRunDir();
        var tc = TinyDataset.Fast with { Steps = 4, EvalEvery = 2, CheckpointEvery = 0 };
        var o = new SelectBenchOptions
        {
            PoolDir = f.Data.DataDir, TargetDir = f.Data.DataDir, OutDir = root, Model = SelectionFixture.Model, Train = tc,
            ReferenceSteps = 2, ProxySteps = 2, KeepFraction = 0.5, SelectRatio = 2, Methods = ["excess-loss", "online"],
        };
        var r = SelectBench.Run(o);
        Assert.Equal(["random (baseline)", "excess-loss top 50%", "online excess-loss (1/2)"], r.Rows.Select(x => x.Method));
        Assert.Equal(r.Curves[0].Points[^1].ValLoss, r.TargetLoss);
        Assert.All(r.Curves, c => Assert.Equal([2, 4], c.Points.Select(p => p.Step)));
        Assert.True(r.Rows[1].PrepSeconds > 0);
        using (var pool = TokenDataset.Open(Path.Combine(root, "pool")))
        using (var src = TokenDataset.Open(f.Data.DataDir))
        {
            Assert.Equal(src.TrainTokens, pool.TrainTokens);
            Assert.Equal(src.ValTokens, pool.ValTokens);   // the target's held-out split
        }
        var selection = SelectionManifest.Load(Path.Combine(root, "select-excess-loss", SelectionManifest.FileName));
        Assert.Equal("excess-loss", selection.Score);
        Assert.EndsWith(Path.Combine("baseline", "checkpoints", "step_000002"), selection.Model);
        var online = SeekSharp.Ledger.MetricsLog.Read(Path.Combine(root, "run-online", "metrics.jsonl"));
        Assert.All(online, m => Assert.Equal(2 * 4 * 32, (double)m["select_scored_tokens"]!));
        var md = SelectBenchReport.Write(r, "seek bench select (test)");
        Assert.Contains("online excess-loss (1/2)", File.ReadAllText(md));
        Assert.True(File.Exists(Path.Combine(root, SelectBenchReport.PlotFile)));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "bench.json")));
        Assert.Equal(3, json.RootElement.GetProperty("rows").GetArrayLength());
        // A second bench into the same folder is refused: nothing of the first is replaced.
        var e = Assert.Throws<SeekSharpException>(() => SelectBench.Run(o));
        Assert.StartsWith($"--out {root}: must be a new or empty folder", e.Message);
    }
}
