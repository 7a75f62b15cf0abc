using System.Buffers.Binary;
using SeekSharp.Modeling;
using static TorchSharp.torch;

namespace SeekSharp.Distributed.Pipeline;

// The stage's end of expert parallelism: each call of a MoE layer for a remote range is one message on the stream from
// this stage to the expert process holding the range, answered on the matching reply box. The streams are numbered per
// (expert process, stage), so box names never repeat within a run and each expert process serves its streams in order
// (one thread per stage; see ExpertStage). A message is a JSON header and the rows as raw fp32.

/// <summary>A message to an expert process: "f" forward, "b" backward of forward <see cref="Id"/>, "done" a step's calls are
/// over, "bye" the stage stops.</summary>
public sealed record ExpertCall(string Kind, int Layer = 0, long Id = 0, long[]? Counts = null, long[]? Padded = null,
    long Capacity = 0, bool Batched = false, bool Keep = false, long Rows = 0, int Step = 0);

public static class ExpertWire
{
    public static byte[] Encode(ExpertCall call, Tensor? rows)
    {
        var header = Wire.Json(call);
        var body = rows is null ? [] : Wire.Floats(rows.to_type(ScalarType.Float32));
        var b = new byte[4 + header.Length + body.Length];
        BinaryPrimitives.WriteInt32LittleEndian(b, header.Length);
        header.CopyTo(b, 4);
        body.CopyTo(b, 4 + header.Length);
        return b;
    }

    public static (ExpertCall Call, byte[] Body) Decode(byte[] b)
    {
        int n = BinaryPrimitives.ReadInt32LittleEndian(b);
        return (Wire.Json<ExpertCall>(b[4..(4 + n)]), b[(4 + n)..]);
    }

    public static Tensor Rows(byte[] body, long d) => Wire.Floats(body, [body.Length / 4 / d, d]);
}

/// <summary>Sends a stage's remote expert calls over its link. Expert range r lives in stage process <c>stages + r - 1</c>.</summary>
public sealed class ExpertExchange(IStageLink link, int stage, int stages, int ranges) : IExpertExchange
{
    readonly long[] next = new long[ranges];
    readonly Dictionary<int, long[]> bytes = [];   // layer -> (sent, received) this step

    int Worker(int range) => stages + range - 1;

    byte[] Call(int layer, int range, ExpertCall call, Tensor? rows)
    {
        long n = next[range]++;
        var payload = ExpertWire.Encode(call, rows);
        link.Send(Boxes.ExpertCall(Worker(range), stage, n), payload);
        var reply = link.Receive(Boxes.ExpertReply(Worker(range), stage, n));
        if (call.Kind is "f" or "b")
        {
            if (!bytes.TryGetValue(layer, out var b)) bytes[layer] = b = new long[2];
            b[0] += payload.Length;
            b[1] += reply.Length;
        }
        return reply;
    }

    public (Tensor Output, long Id) Forward(int layer, int range, Tensor rows, ExpertDispatch dispatch, bool keep)
    {
        long id = next[range];
        var reply = Call(layer, range, new ExpertCall("f", layer, id, dispatch.Counts, dispatch.Padded, dispatch.Capacity, dispatch.Batched, keep, rows.shape[0]), rows);
        return (ExpertWire.Rows(reply, rows.shape[1]).to_type(rows.dtype), id);
    }

    public Tensor Backward(int layer, int range, long id, Tensor gradOutput)
    {
        var reply = Call(layer, range, new ExpertCall("b", layer, id, Rows: gradOutput.shape[0]), gradOutput);
        return ExpertWire.Rows(reply, gradOutput.shape[1]).to_type(gradOutput.dtype);
    }

    /// <summary>Tells every expert process this stage's calls of <paramref name="step"/> are over.</summary>
    public void Done(int step)
    {
        for (int r = 1; r < ranges; r++) Call(0, r, new ExpertCall("done", Step: step), null);
    }

    public void Bye()
    {
        for (int r = 1; r < ranges; r++)
        {
            long n = next[r]++;
            link.Send(Boxes.ExpertCall(Worker(r), stage, n), ExpertWire.Encode(new ExpertCall("bye"), null));
        }
    }

    /// <summary>Bytes sent to and received from expert processes per MoE layer since the last call.</summary>
    public Dictionary<int, long[]> TakeBytes()
    {
        var b = new Dictionary<int, long[]>(bytes);
        bytes.Clear();
        return b;
    }
}
