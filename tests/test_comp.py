"The Comp reader: layouts it detects, and one clear message (file, row or column) for each bad input."
import re, struct
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image
from compnb.core import CompError
from compnb.data import read_comp
from compnb.comp import read_table
from compnb.images import open_image
from conftest import BEE, need


def img(path, size=(12, 10), color='red', mode='RGB', fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, fmt)
    return path


def comp_dir(tmp_path, csv='id,label\na,x\nb,y\nc,y\nd,x\n', ids='abcd', test=None, sub=None, folder='train'):
    d = tmp_path/'comp'
    for i in ids: img(d/folder/f'{i}.png')
    (d/'train.csv').write_text(csv)
    for t in (test or []): img(d/'test'/f'{t}.png')
    if sub is not None: (d/'sample_submission.csv').write_text(sub)
    return d


def raises(d, *patterns, **kw):
    with pytest.raises(CompError) as e: read_comp(d, **kw)
    msg = str(e.value)
    for p in patterns: assert re.search(p, msg), f'{p!r} not in: {msg}'
    return msg

# --- layouts ------------------------------------------------------------------------------------

def test_csv_ids_without_extension_and_test_folder(tmp_path):
    d = comp_dir(tmp_path, test=['t1', 't2'], sub='id,label\nt2,x\nt1,x\n')
    c = read_comp(d)
    assert list(c.train.image) == ['train/a.png', 'train/b.png', 'train/c.png', 'train/d.png']
    assert c.vocab == ['x', 'y'] and c.test == ['test/t2.png', 'test/t1.png']  # sample_submission order


def test_kaggle_train_images_layout(tmp_path):
    d = tmp_path/'k'
    for i in 'ab': img(d/'train_images'/f'{i}.jpg', fmt='JPEG')
    img(d/'test_images'/'z.jpg', fmt='JPEG')
    (d/'train.csv').write_text('image_id,label\na.jpg,0\nb.jpg,1\n')
    (d/'sample_submission.csv').write_text('image_id,label\nz.jpg,0\n')
    c = read_comp(d)
    assert c.train.image[0] == 'train_images/a.jpg' and c.test == ['test_images/z.jpg'] and c.id_col == 'image_id'


def test_folder_per_class(tmp_path):
    d = tmp_path/'f'
    for cls in ('cat', 'dog'):
        for i in range(2): img(d/'train'/cls/f'{i}.png')
    img(d/'test'/'q.png')
    c = read_comp(d)
    assert c.vocab == ['cat', 'dog'] and len(c.train) == 4 and c.test == ['test/q.png']
    assert list(c.sample_submission.columns) == ['id', 'label']


def test_bom_and_semicolons(tmp_path):
    d = comp_dir(tmp_path, csv='\ufeffid;label\na;x\nb;y\nc;y\nd;x\n')
    assert read_comp(d).vocab == ['x', 'y']


def test_multilabel_and_group_detected(tmp_path):
    d = comp_dir(tmp_path, csv='id,tags,patient_id\na,x y,p1\nb,y,p1\nc,z x,p2\nd,y,p3\n')
    c = read_comp(d, label_col='tags', label_delim=' ')
    assert c.multi_label and c.vocab == ['x', 'y', 'z'] and c.train.labels[0] == ['x', 'y']
    assert list(c.train.group) == ['p1', 'p1', 'p2', 'p3']


def test_overrides(tmp_path):
    d = comp_dir(tmp_path, csv='file,kind,who\na,x,1\nb,y,1\nc,y,2\nd,x,3\n')
    c = read_comp(d, image_col='file', label_col='kind', group_col='who')
    assert c.vocab == ['x', 'y'] and c.has_group


def test_bee_health_reads():
    c = read_comp(need(BEE))
    assert len(c.train) == 2595 and len(c.vocab) == 6 and c.train.group.nunique() == 45 and c.test is None
    assert 'few varrao, hive beetles' in c.vocab  # the quoted label with a comma survives

# --- bad input: each message names the file and the row, column or id -------------------------

def test_missing_image_file(tmp_path):
    d = comp_dir(tmp_path, csv='id,label\na,x\nb,y\nzz,y\nd,x\n')
    raises(d, 'train.csv', r"row 3 'zz'", 'not found')


def test_corrupt_truncated_image(tmp_path):
    d = comp_dir(tmp_path)
    img(d/'train'/'b.png', size=(200, 200))
    data = (d/'train'/'b.png').read_bytes(); (d/'train'/'b.png').write_bytes(data[:len(data) // 2])
    raises(d, r'train/b\.png', 'row 2', 'truncated or corrupt', "on_bad=\"skip\"")


def test_zero_byte_and_not_an_image(tmp_path):
    d = comp_dir(tmp_path)
    (d/'train'/'a.png').write_bytes(b'')
    (d/'train'/'c.png').write_text('<html>not an image</html>')
    msg = raises(d, r'train/a\.png \(row 1\): zero-byte', r'train/c\.png \(row 3\): not an image', '2 unreadable')


def test_on_bad_skip(tmp_path):
    d = comp_dir(tmp_path)
    (d/'train'/'a.png').write_bytes(b'')
    with pytest.warns(UserWarning, match=r'skipped 1 .*train/a\.png'):
        c = read_comp(d, on_bad='skip')
    assert list(c.train.image) == ['train/b.png', 'train/c.png', 'train/d.png']


def test_missing_columns(tmp_path):
    d = comp_dir(tmp_path)
    raises(d, 'train.csv', "no column 'nope'", r"label_col='nope'", r"\['id', 'label'\]", label_col='nope')
    d2 = comp_dir(tmp_path/'2', csv='id,a,b\na,x,1\nb,y,1\nc,y,1\nd,x,1\n')
    raises(d2, 'train.csv', 'cannot tell which column holds the labels', 'label_col=')


def test_empty_csv(tmp_path):
    d = comp_dir(tmp_path, csv='')
    raises(d, r'train\.csv is empty')
    d2 = comp_dir(tmp_path/'2', csv='id,label\n')
    raises(d2, r'train\.csv has a header but no rows')


def test_nan_labels(tmp_path):
    d = comp_dir(tmp_path, csv='id,label\na,\nb,\nc,\nd,\n')
    raises(d, 'train.csv', "column 'label' is empty in every row")
    d2 = comp_dir(tmp_path/'2', csv='id,label\na,x\nb,\nc,y\nd,\n')
    raises(d2, 'train.csv', "no label in column 'label'", 'rows 2, 4')


def test_duplicate_ids(tmp_path):
    d = comp_dir(tmp_path, csv='id,label\na,x\nb,y\na,y\nd,x\n')
    raises(d, 'train.csv', "column 'id'", "'a' on rows 1, 3")


def test_test_images_vs_sample_submission(tmp_path):
    d = comp_dir(tmp_path, test=['t1'], sub='id,label\nt1,x\nt9,x\n')
    raises(d, 'sample_submission.csv', "row 2 't9'", 'not found')
    d2 = comp_dir(tmp_path/'2', test=['t1', 't2', 'extra'], sub='id,label\nt1,x\nt2,x\n')
    raises(d2, r'extra\.png', 'does not list', 'sample_submission')


def test_no_data_folder(tmp_path):
    raises(tmp_path/'nope', 'no such folder')
    (tmp_path/'empty').mkdir()
    raises(tmp_path/'empty', 'no train table')


def test_odd_modes_decode_to_rgb(tmp_path):
    for mode, color in [('RGBA', (1, 2, 3, 4)), ('L', 9), ('P', 3), ('CMYK', (0, 0, 0, 0))]:
        p = img(tmp_path/f'{mode}.{"jpg" if mode == "CMYK" else "png"}', mode=mode, color=color)
        assert open_image(p).mode == 'RGB'
    a = (np.arange(100, dtype=np.uint16).reshape(10, 10) * 600)
    Image.fromarray(a).save(tmp_path/'i16.png')
    arr = np.asarray(open_image(tmp_path/'i16.png'))
    assert arr.max() > 200 and arr.min() < 10 and 50 < arr.mean() < 200  # scaled, not clipped


# --- multi-label from evidence (issue 26, item 4) -----------------------------------------------

def _genre_rows(n=300, n_tags=23, seed=0):
    "Space-separated sets of 2-3 of `n_tags` skewed tags (most never alone), and a few single ones"
    rng = np.random.default_rng(seed)
    tags = [f'Genre{i}' for i in range(n_tags)]
    w = 1 / np.arange(1, n_tags + 1)
    labs = [' '.join(sorted(rng.choice(tags, rng.integers(2, 4), replace=False, p=w / w.sum()))) for _ in range(n)]
    return labs + ['Genre0', 'Genre1', 'Genre2']


def test_space_separated_tag_sets_read_as_multilabel_unconfigured(tmp_path, capsys):
    labs = _genre_rows()
    ids = [f'i{k}' for k in range(len(labs))]
    d = tmp_path/'comp'
    for i in ids: img(d/'train'/f'{i}.png', (4, 4))
    pd.DataFrame({'id': ids, 'genre': labs}).to_csv(d/'train.csv', index=False)
    c = read_comp(d, label_col='genre', check=False)
    assert c.multi_label and c.label_delim == ' ' and len(c.vocab) == 23
    assert 'recombine' in capsys.readouterr().out  # the guess and its reason, logged
    assert not read_comp(d, label_col='genre', label_delim='none', check=False).multi_label  # still whole


def test_class_names_with_spaces_and_commas_stay_single(tmp_path, capsys):
    names = ['healthy', 'few varrao, hive beetles', 'Varroa, Small Hive Beetles', 'ant problems', 'hive being robbed',
             'missing queen']
    labs = [names[k % 6] for k in range(60)]
    ids = [f'i{k}' for k in range(60)]
    d = tmp_path/'comp'
    for i in ids: img(d/'train'/f'{i}.png', (4, 4))
    pd.DataFrame({'id': ids, 'label': labs}).to_csv(d/'train.csv', index=False)
    c = read_comp(d, check=False)
    assert not c.multi_label and set(c.vocab) == set(names)
    assert 'read whole' in capsys.readouterr().out


def test_bee_health_reads_six_single_label_classes():
    c = read_comp(need(BEE), check=False)
    assert not c.multi_label and len(c.vocab) == 6
