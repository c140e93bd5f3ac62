import numpy as np
import pytest
from scene_helpers import loud_model, small_config, small_pair

from sarflow.errors import InputError
from sarflow.scene.blocks import ArraySource, Block, MemoryModel, TileLattice, parse_memory, split_blocks
from sarflow.scene.inference import lattice_for, log_statistics, predict_block, predict_offsets, prepare_model


@pytest.fixture(scope="module")
def model():
    return loud_model()


def blocked(model, reference, secondary, config, side):
    """The scene computed block by block from windows, assembled in memory."""
    net = prepare_model(model, config)
    lattice = lattice_for(net, reference.shape, config)
    stats = log_statistics(reference, secondary)
    out = np.full((2, *reference.shape), np.nan, np.float32)
    for block in split_blocks(reference.shape, side, side):
        span = lattice.span(block)
        windows = [ArraySource(a).read(span.row0, span.row1, span.col0, span.col1) for a in (reference, secondary)]
        res = predict_block(net, lattice, block, *windows, statistics=stats, config=config)
        out[(slice(None), *block.slices())] = np.stack([res["dx"], res["dy"]])
    return out


def test_blocks_give_the_whole_scene_result_bit_for_bit(model):
    ref, sec = small_pair()
    config = small_config(batch_size=1)  # one tile per pass: the same arithmetic whatever the blocks
    whole = predict_offsets(model, ref, sec, config=config)
    for side in (40, 72):  # not multiples of the tile stride either
        out = blocked(model, ref, sec, config, side)
        np.testing.assert_array_equal(out[0], whole["dx"])
        np.testing.assert_array_equal(out[1], whole["dy"])
    assert float(np.nanstd(whole["dx"])) > 0.05


def test_blocks_with_batches_agree_to_round_off(model):
    ref, sec = small_pair()
    config = small_config(batch_size=4)
    whole = predict_offsets(model, ref, sec, config=config)
    out = blocked(model, ref, sec, config, 48)
    assert float(np.nanmax(np.abs(out[0] - whole["dx"]))) < 1e-5


def test_nodata_blocks_stay_nodata_and_run_no_tiles(model):
    ref, sec = small_pair()
    ref = ref.copy()
    ref[:, :96] = np.nan
    config = small_config()
    net = prepare_model(model, config)
    lattice = lattice_for(net, ref.shape, config)
    block = Block(0, 64, 0, 32)  # all its tiles lie in the nodata part
    span = lattice.span(block)
    windows = [ArraySource(a).read(span.row0, span.row1, span.col0, span.col1) for a in (ref, sec)]
    calls = []
    out = predict_block(net, lattice, block, *windows, statistics=log_statistics(ref, sec), config=config,
                        progress=calls.append)
    assert np.isnan(out["dx"]).all() and "sigma_dx" not in out  # no tile ran
    assert sum(calls) == len(lattice.tiles_touching(block))
    full = blocked(model, ref, sec, config, 64)
    assert np.isnan(full[0][:, :96]).all() and np.isfinite(full[0][:, 100:]).all()


def test_lattice_tiles_lie_on_the_divisor_and_cover_the_scene():
    lattice = TileLattice.build((300, 100), tile_size=64, overlap=16, receptive_field=200, divisor=8)
    assert lattice.tile == (64, 64) and lattice.stride == (48, 48)
    assert all(r % 8 == 0 for r in lattice.row_starts)
    assert lattice.row_starts[-1] + 64 >= 300 and lattice.col_starts[-1] + 64 >= 100
    single = TileLattice.build((50, 60), tile_size=64, overlap=None, receptive_field=200, divisor=8)
    assert single.tile == (50, 60) and single.ramp == (0, 0) and single.count == 1
    span = lattice.span(Block(100, 150, 0, 40))
    assert span.row0 <= 100 - 16 and span.row1 >= 150 + 16


def test_array_source_reads_outside_the_image_as_nodata():
    src = ArraySource(np.arange(12, dtype=np.float32).reshape(3, 4))
    win = src.read(-1, 2, 2, 6)
    assert win.shape == (3, 4)
    assert np.isnan(win[0]).all() and np.isnan(win[:, 2:]).all()
    np.testing.assert_array_equal(win[1:, :2], [[2, 3], [6, 7]])


def test_parse_memory():
    assert parse_memory("2GB") == 2_000_000_000
    assert parse_memory("1.5 GiB") == int(1.5 * 2**30)
    assert parse_memory("800MB") == 800_000_000
    assert parse_memory(123456) == 123456
    for bad in ("lots", "2 parsecs", "-1GB", "0"):
        with pytest.raises(InputError, match="memory size"):
            parse_memory(bad)


def test_block_side_follows_the_budget_and_refuses_a_tiny_one():
    lattice = TileLattice.build((20000, 20000), tile_size=512, overlap=256, receptive_field=1000, divisor=16)
    memory = MemoryModel(fixed_bytes=500_000_000, bytes_per_pixel=120)
    small = memory.block_side(1_000_000_000, lattice)
    large = memory.block_side(4_000_000_000, lattice)
    assert small % 256 == 0 and large % 256 == 0 and 256 <= small < large
    # The window of a block fits the budget.
    assert memory.fixed_bytes + 120 * (large + 512 - 256) ** 2 <= 4_000_000_000
    with pytest.raises(InputError, match=r"520.00 MB is too small for this job: at least 531.46 MB is needed"):
        memory.block_side(520_000_000, lattice)


def test_activation_estimate_scales_with_the_batch_and_precision(model):
    from sarflow.scene.inference import activation_bytes

    fp32 = prepare_model(model, small_config())
    one = activation_bytes(fp32, small_config(batch_size=1), (256, 256))
    four = activation_bytes(fp32, small_config(batch_size=4), (256, 256))
    half = activation_bytes(fp32, small_config(batch_size=4, precision="bf16"), (256, 256))
    fixed = 64 * 2**20
    assert four - fixed == pytest.approx(4 * (one - fixed), rel=1e-6)
    assert fixed < half < four


def _estimated_time(lattice, shape, slots):
    tiles = [len(lattice.tiles_touching(b)) for b in split_blocks(lattice.shape, *shape)]
    return max(max(tiles), sum(tiles) / slots), len(tiles), sum(tiles)


def test_a_cluster_gets_at_least_a_block_per_worker_thread():
    from sarflow.scene.blocks import parallel_block_shape

    lattice = TileLattice.build((2048, 2048), tile_size=512, overlap=160, receptive_field=1000, divisor=16)
    # The memory budget alone would give one block: one thread of the cluster would do all the work.
    alone, _, total = _estimated_time(lattice, (2048, 2048), 2)
    assert total == lattice.count == 36 and alone == 36
    for slots in (2, 4, 8):
        shape = parallel_block_shape(lattice, 4096, slots)
        time_, blocks, tiles = _estimated_time(lattice, shape, slots)
        assert blocks >= slots and time_ < alone and tiles < 2 * total  # a tile across a cut runs twice
    # No cluster, or enough blocks already: the memory plan stands.
    assert parallel_block_shape(lattice, 4096, 1) == (2048, 2048)
    assert parallel_block_shape(lattice, 704, 4) == (704, 704)
    # A scene of one tile is never cut (both halves would run the same tile).
    one = TileLattice.build((400, 500), tile_size=512, overlap=160, receptive_field=1000, divisor=16)
    assert parallel_block_shape(one, 4096, 8) == (400, 500)
